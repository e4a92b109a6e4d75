namespace TempMe.Pipeline.Encoder.Tests;

/// <summary>
/// Which local models a worker may load (issue 11 item 4): only checkpoints whose real path lies under a model root.
/// Real files and real symbolic links in a temporary folder.
/// </summary>
public sealed class ModelRootsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tempme-roots").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void A_checkpoint_under_a_root_resolves_to_its_real_path_and_loads()
    {
        var roots = Roots(out var root);
        var folder = Directory.CreateDirectory(Path.Combine(root, "clip")).FullName;
        var file = Path.Combine(folder, "model.safetensors");
        File.Copy(TinyReference.WeightsPath("weights.safetensors"), file);
        Assert.Equal(file, roots.ResolveCheckpoint(folder));
        Assert.Equal(file, roots.ResolveCheckpoint(file));
        Assert.Equal(file, roots.ResolveCheckpoint("file://" + file));

        // A link that stays inside the roots is fine, and resolves to its target.
        var link = Path.Combine(root, "current");
        Directory.CreateSymbolicLink(link, "clip");
        Assert.Equal(file, roots.ResolveCheckpoint(link));
        Assert.Equal(file, roots.ResolveCheckpoint(Path.Combine(link, "..", "clip", "model.safetensors")));
        Assert.NotNull(EncoderFactory.Create(roots.ResolveCheckpoint(link), 12, TinyReference.Options(), null));
    }

    [Fact]
    public void A_file_outside_the_roots_is_refused_naming_the_roots()
    {
        var roots = Roots(out var root);
        var secret = Secret();
        foreach (var spec in new[] { secret, Path.Combine(root, "..", "etc", "shadow"), "file://" + secret })
        {
            var ex = Assert.Throws<ModelLoadException>(() => roots.ResolveCheckpoint(spec));
            Assert.Contains(root, ex.Message, StringComparison.Ordinal);
            Assert.Contains("--model-roots", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("SECRET", ex.Message, StringComparison.Ordinal);
        }

        Assert.Contains(root, roots.RefusalForSubmit(secret), StringComparison.Ordinal);
        Assert.Null(roots.RefusalForSubmit(Path.Combine(root, "not-there-yet.safetensors")));
    }

    [Fact]
    public void Links_out_of_a_root_are_refused_wherever_they_are()
    {
        var roots = Roots(out var root);
        var secret = Secret();

        // The file itself, a folder, and the checkpoint inside a real folder of the root.
        File.CreateSymbolicLink(Path.Combine(root, "evil.safetensors"), secret);
        Directory.CreateSymbolicLink(Path.Combine(root, "etc"), Path.GetDirectoryName(secret)!);
        var folder = Directory.CreateDirectory(Path.Combine(root, "model")).FullName;
        File.CreateSymbolicLink(Path.Combine(folder, "model.safetensors"), secret);

        foreach (var spec in new[] { Path.Combine(root, "evil.safetensors"), Path.Combine(root, "etc", "shadow"), folder })
        {
            var ex = Assert.Throws<ModelLoadException>(() => roots.ResolveCheckpoint(spec));
            Assert.Contains("outside the model roots", ex.Message, StringComparison.Ordinal);
            Assert.Contains(root, ex.Message, StringComparison.Ordinal);
        }

        Assert.NotNull(roots.RefusalForSubmit(Path.Combine(root, "evil.safetensors")));
        Assert.NotNull(roots.RefusalForSubmit(Path.Combine(root, "etc", "shadow")));
    }

    [Fact]
    public void Without_roots_every_local_model_is_refused_but_random_and_blob_models_are_not_local()
    {
        var ex = Assert.Throws<ModelLoadException>(() => ModelRoots.None.ResolveCheckpoint(Secret()));
        Assert.Contains("--model-roots", ex.Message, StringComparison.Ordinal);
        Assert.Contains(ModelRoots.EnvironmentVariable, ex.Message, StringComparison.Ordinal);
        Assert.Null(ModelRoots.None.RefusalForSubmit("/etc/passwd"));

        Assert.True(ModelRoots.IsLocalPath("/models/clip"));
        Assert.True(ModelRoots.IsLocalPath("./clip"));
        Assert.True(ModelRoots.IsLocalPath("file:///models/clip"));
        Assert.False(ModelRoots.IsLocalPath("random:vit-b32"));
        Assert.False(ModelRoots.IsLocalPath("az://models/clip/"));
        Assert.False(ModelRoots.IsLocalPath("https://acct.blob.core.windows.net/models/clip/"));
    }

    [Fact]
    public void A_link_loop_is_refused_as_missing()
    {
        var roots = Roots(out var root);
        File.CreateSymbolicLink(Path.Combine(root, "a"), "b");
        File.CreateSymbolicLink(Path.Combine(root, "b"), "a");
        Assert.Contains("does not exist", Assert.Throws<ModelLoadException>(() => roots.ResolveCheckpoint(Path.Combine(root, "a"))).Message, StringComparison.Ordinal);
    }

    private ModelRoots Roots(out string root)
    {
        root = Directory.CreateDirectory(Path.Combine(_dir, "models")).FullName;
        return new ModelRoots([root, Path.Combine(_dir, "also-models")]);
    }

    private string Secret()
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(_dir, "etc")).FullName, "shadow");
        File.WriteAllText(path, "ZEBRA-SECRET-hunter2:19000:0:99999:7:::\n");
        return path;
    }
}
