using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// The local folders a distributed job's model may lie under (<c>--model-roots</c>, or <see cref="EnvironmentVariable"/>).
/// A job names its model, and whoever can submit a job must not make a worker read any file it can read: a local model
/// is accepted only when its real path (every symbolic link followed) lies under one of these folders. <c>random:</c>
/// models and blob addresses are not local paths and are not affected.
/// </summary>
public sealed class ModelRoots
{
    /// <summary>The command-line option of <c>tempme worker</c> and <c>tempme silo</c>.</summary>
    public const string OptionName = "--model-roots";

    /// <summary>Environment variable read when <see cref="OptionName"/> is not given.</summary>
    public const string EnvironmentVariable = "TEMPME_MODEL_ROOTS";

    /// <summary>Creates the roots from folder paths (made absolute, links resolved where the folder exists).</summary>
    public ModelRoots(IEnumerable<string> folders)
    {
        ArgumentNullException.ThrowIfNull(folders);
        Folders = folders.Select(f => Path.TrimEndingDirectorySeparator(RealPath.OfExisting(f) ?? Path.GetFullPath(f))).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>No roots: a worker refuses every local model; a silo leaves the check to its workers.</summary>
    public static ModelRoots None { get; } = new([]);

    /// <summary>The folders, absolute.</summary>
    public IReadOnlyList<string> Folders { get; }

    /// <summary>Whether no folder is configured.</summary>
    public bool IsEmpty => Folders.Count == 0;

    /// <summary>The roots from a comma-separated list; when it is empty or null, from <see cref="EnvironmentVariable"/>.</summary>
    public static ModelRoots FromOptionOrEnvironment(string? commaSeparated)
    {
        var text = string.IsNullOrWhiteSpace(commaSeparated) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : commaSeparated;
        return new ModelRoots((text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>Whether <paramref name="modelSpec"/> names a local file or folder (not <c>random:</c>, not a blob address).</summary>
    public static bool IsLocalPath(string modelSpec)
    {
        ArgumentNullException.ThrowIfNull(modelSpec);
        return !modelSpec.StartsWith(EncoderFactory.RandomPrefix, StringComparison.OrdinalIgnoreCase)
            && (!modelSpec.Contains("://", StringComparison.Ordinal) || modelSpec.StartsWith("file://", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The checkpoint file a local <paramref name="modelSpec"/> names, as its real path, when it lies under a root
    /// (the folder named, and the checkpoint in it). Throws <see cref="ModelLoadException"/> naming the roots otherwise.
    /// </summary>
    public string ResolveCheckpoint(string modelSpec)
    {
        var path = LocalPath(modelSpec);
        if (IsEmpty)
        {
            throw new ModelLoadException(
                $"the model {modelSpec} is a local path, but this worker allows no local models: start it with {OptionName} DIR,... " +
                $"(or set {EnvironmentVariable}) naming the folders that hold checkpoints, or use random:vit-b32 / random:vit-b16 or a blob address.");
        }

        var real = RealPath.OfExisting(path) ?? throw new ModelLoadException($"the model {modelSpec} does not exist on this worker (model roots: {string.Join(", ", Folders)}).");
        RequireInside(modelSpec, real, "worker");
        var checkpoint = EncoderFactory.ResolveCheckpoint(real);
        var realCheckpoint = RealPath.OfExisting(checkpoint) ?? throw new ModelLoadException($"the model {modelSpec} does not exist on this worker (model roots: {string.Join(", ", Folders)}).");
        RequireInside(modelSpec, realCheckpoint, "worker");
        return realCheckpoint;
    }

    /// <summary>
    /// For a silo, which may not see the workers' files: why a local <paramref name="modelSpec"/> is refused, or null.
    /// Without roots nothing is refused here (the workers decide). The path must lie under a root as written and,
    /// where it exists on this machine, after following its links.
    /// </summary>
    public string? RefusalForSubmit(string modelSpec)
    {
        if (IsEmpty || !IsLocalPath(modelSpec))
        {
            return null;
        }

        string path;
        try
        {
            path = Path.GetFullPath(LocalPath(modelSpec));
        }
        catch (Exception e) when (e is ArgumentException or ModelLoadException or UriFormatException)
        {
            return $"model {modelSpec} is not a valid local path; give a path under the model roots ({string.Join(", ", Folders)}), random:vit-b32 or a blob address.";
        }

        return IsInside(path) && (RealPath.OfExisting(path) is not { } real || IsInside(real)) ? null : Outside(modelSpec, "silo");
    }

    private static string LocalPath(string modelSpec)
    {
        if (!modelSpec.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            return modelSpec;
        }

        return Uri.TryCreate(modelSpec, UriKind.Absolute, out var uri) && uri.IsFile
            ? uri.LocalPath
            : throw new ModelLoadException($"the model {modelSpec} is not a valid file:// URL (use file:///absolute/path).");
    }

    private void RequireInside(string modelSpec, string realPath, string who)
    {
        if (!IsInside(realPath))
        {
            throw new ModelLoadException(Outside(modelSpec, who));
        }
    }

    private bool IsInside(string path) => Folders.Any(root => RealPath.IsUnder(path, root));

    private string Outside(string modelSpec, string who) =>
        $"the model {modelSpec} lies outside the model roots ({string.Join(", ", Folders)}), symbolic links followed; " +
        $"put the checkpoint under one of them, or start the {who} with {OptionName} naming its folder.";
}
