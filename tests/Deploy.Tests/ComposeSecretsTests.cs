using System.Text.RegularExpressions;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>deploy/compose.yaml never falls back to a fixed API token: compose refuses to start until one is set.</summary>
public sealed class ComposeSecretsTests
{
    private static string ComposeFile => Path.Combine(RepoPaths.Root, "deploy", "compose.yaml");

    [Fact]
    public void The_silo_api_token_must_be_set_and_has_no_default()
    {
        var services = Yaml.LoadFile(ComposeFile).Get("services");
        var token = services.Str("silo", "environment", "TEMPME_API_TOKEN");
        Assert.NotNull(token);

        // ${VAR:?message}: compose stops with the message when VAR is unset or empty; ${VAR:-x} / ${VAR-x} would use x.
        var required = Regex.Match(token!, @"^\$\{TEMPME_API_TOKEN:\?(?<message>[^}]+)\}$");
        Assert.True(required.Success, $"TEMPME_API_TOKEN is '{token}', not ${{TEMPME_API_TOKEN:?message}}");
        Assert.Contains("TEMPME_API_TOKEN", required.Groups["message"].Value, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\$\{TEMPME_API_TOKEN:?[-=]", File.ReadAllText(ComposeFile));
    }
}
