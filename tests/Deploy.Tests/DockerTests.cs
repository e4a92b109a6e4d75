using System.Text.RegularExpressions;
using TempMe.Pipeline.Testing;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>Checks deploy/docker and deploy/compose.yaml against the repository (no container engine needed).</summary>
public sealed class DockerTests
{
    /// <summary>The images the manifests run.</summary>
    public static TheoryData<string> Dockerfiles => new(DockerfileNames);

    private static readonly string[] DockerfileNames = ["Dockerfile.silo", "Dockerfile.worker", "Dockerfile.worker-cuda"];

    private static string ComposeFile => Path.Combine(RepoPaths.Root, "deploy", "compose.yaml");

    [Fact]
    public void The_expected_dockerfiles_and_no_others_exist()
    {
        Assert.Equal(DockerfileNames.Order(StringComparer.Ordinal), Dockerfile.All.Select(Path.GetFileName).OfType<string>());
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Every_path_copied_from_the_repo_root_context_exists_and_is_not_ignored(string name)
    {
        AssertCopiesExist(Dockerfile.Load(Path.Combine(Dockerfile.Folder, name)), RepoPaths.Root);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Images_are_multi_stage_publish_the_cli_and_run_it_as_a_non_root_user(string name)
    {
        var file = Dockerfile.Load(Path.Combine(Dockerfile.Folder, name));
        Assert.True(file.Lines.Count(l => l.Instruction == "FROM") >= 2, $"{name}: not multi-stage");
        Assert.Contains(file.Lines, l => l.Instruction == "RUN" && l.Args.Contains("dotnet publish src/Cli/Cli.csproj", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "src", "Cli", "Cli.csproj")));
        Assert.Contains("<AssemblyName>tempme</AssemblyName>", File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "Cli", "Cli.csproj")), StringComparison.Ordinal);

        var final = file.FinalStage.ToList();
        Assert.DoesNotContain(final, l => l.Instruction == "RUN" && l.Args.Contains("dotnet publish", StringComparison.Ordinal));
        var user = final.Last(l => l.Instruction == "USER").Args.Split(':')[0];
        Assert.True(int.TryParse(user, System.Globalization.CultureInfo.InvariantCulture, out var uid) && uid > 0, $"{name}: USER {user} must be a numeric non-root uid (runAsNonRoot needs one)");
        Assert.Equal("[\"dotnet\", \"/app/tempme.dll\"]", final.Last(l => l.Instruction == "ENTRYPOINT").Args);

        // The default command listens where EXPOSE says, like the manifests.
        var cmd = final.Last(l => l.Instruction == "CMD").Args;
        var port = Regex.Match(cmd, @"http://[^"":/]+:(\d+)").Groups[1].Value;
        Assert.Contains(final, l => l.Instruction == "EXPOSE" && l.Args == port);
        Assert.StartsWith(name == "Dockerfile.silo" ? "[\"silo\"" : "[\"worker\"", cmd, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Dockerfile.worker")]
    [InlineData("Dockerfile.worker-cuda")]
    public void Worker_images_install_ffmpeg_and_openblas(string name)
    {
        var run = string.Join('\n', Dockerfile.Load(Path.Combine(Dockerfile.Folder, name)).FinalStage.Where(l => l.Instruction == "RUN").Select(l => l.Args));
        Assert.Matches(@"apt-get install[^\n]*\bffmpeg\b", run);
        Assert.Matches(@"apt-get install[^\n]*\blibopenblas0-pthread\b", run);
    }

    [Fact]
    public void Cuda_image_uses_a_cuda_runtime_base_and_the_aspnet_runtime()
    {
        var file = Dockerfile.Load(Path.Combine(Dockerfile.Folder, "Dockerfile.worker-cuda"));
        Assert.Contains(file.Lines, l => l.Instruction == "ARG" && Regex.IsMatch(l.Args, @"^CUDA_IMAGE=nvidia/cuda:12\.[\d.]+-runtime-ubuntu"));
        Assert.Contains(file.Lines, l => l.Instruction == "COPY" && l.Args.StartsWith("--from=dotnet-runtime /usr/share/dotnet", StringComparison.Ordinal));
    }

    [Fact]
    public void Compose_builds_from_files_that_exist()
    {
        var services = Yaml.LoadFile(ComposeFile).Get("services").Entries().ToList();
        var built = services.Where(s => s.Value.Get("build") is not null).ToList();
        Assert.Equal(["silo", "worker"], built.Select(s => s.Key).Order(StringComparer.Ordinal));
        foreach (var (name, service) in built)
        {
            var context = Path.GetFullPath(Path.Combine(RepoPaths.Root, "deploy", service.Str("build", "context") ?? "."));
            Assert.True(File.Exists(Path.Combine(context, "TempMe.Pipeline.sln")), $"compose service {name}: the build context {context} is not the repo root");
            var dockerfile = Path.Combine(context, service.Str("build", "dockerfile") ?? "Dockerfile");
            Assert.True(File.Exists(dockerfile), $"compose service {name}: {dockerfile} does not exist");
            AssertCopiesExist(Dockerfile.Load(dockerfile), context);

            // tempme/worker:dev is built from Dockerfile.worker, like the manifests' images.
            var image = service.Str("image") ?? "";
            Assert.EndsWith("Dockerfile." + image.Split('/')[^1].Split(':')[0], dockerfile, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Compose_runs_postgres_azurite_a_silo_and_two_workers()
    {
        var services = Yaml.LoadFile(ComposeFile).Get("services");
        Assert.StartsWith("postgres:15", services.Str("postgres", "image"), StringComparison.Ordinal);
        Assert.StartsWith("mcr.microsoft.com/azure-storage/azurite", services.Str("azurite", "image"), StringComparison.Ordinal);
        Assert.Equal(2, services.Int("worker", "deploy", "replicas"));
        Assert.Equal("silo", services.Path("silo", "command").Items().Select(n => ((YamlScalarNode)n).Value).First());
        Assert.Equal("worker", services.Path("worker", "command").Items().Select(n => ((YamlScalarNode)n).Value).First());
        Assert.Contains(services.Path("silo", "ports").Items(), p => ((YamlScalarNode)p).Value!.EndsWith(":8080:8080", StringComparison.Ordinal));
        Assert.Matches(@"^1[2-9]\ds$|^[2-9]\d\ds$", services.Str("worker", "stop_grace_period"));
    }

    [Fact]
    public void Compose_env_names_and_flags_are_read_by_the_code()
    {
        var missing = new List<string>();
        foreach (var (name, service) in Yaml.LoadFile(ComposeFile).Get("services").Entries().Where(s => s.Value.Get("build") is not null))
        {
            var command = service.Get("command").Items().Select(n => ((YamlScalarNode)n).Value ?? "").ToList();
            foreach (var word in command.Take(1).Concat(command.Where(a => a.StartsWith("--", StringComparison.Ordinal))))
            {
                if (!SourceNames.Has(word))
                {
                    missing.Add($"{name}: {word}");
                }
            }

            foreach (var (env, _) in service.Get("environment").Entries())
            {
                if ((env.StartsWith("TEMPME_", StringComparison.Ordinal) || env.StartsWith("AZURE_", StringComparison.Ordinal)) && !SourceNames.Has(env))
                {
                    missing.Add($"{name}: {env}");
                }
            }
        }

        Assert.True(missing.Count == 0, $"not a string literal anywhere under src/: {string.Join(", ", missing)}");
    }

    private static void AssertCopiesExist(Dockerfile file, string context)
    {
        var sources = file.ContextSources().ToList();
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var relative = source.TrimEnd('/');
            var full = Path.Combine(context, relative);
            Assert.True(File.Exists(full) || Directory.Exists(full), $"{file.Path}: COPY source {source} does not exist in {context}");
            foreach (var pattern in file.IgnorePatterns.Select(p => p.TrimEnd('/')))
            {
                Assert.False(
                    relative == pattern || relative.StartsWith(pattern + "/", StringComparison.Ordinal),
                    $"{file.Path}: COPY source {source} is excluded by the .dockerignore pattern {pattern}");
            }
        }
    }
}
