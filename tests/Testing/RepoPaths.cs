namespace TempMe.Pipeline.Testing;

/// <summary>Locates the repository and the shared reference material beside it (<c>../shared</c>).</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root (the folder holding TempMe.Pipeline.sln).</summary>
    public static string Root => LazyRoot.Value;

    /// <summary>The <c>shared</c> folder beside the repository; tests fail loudly when it is missing.</summary>
    public static string Shared
    {
        get
        {
            var shared = Environment.GetEnvironmentVariable("TEMPME_SHARED") ?? Path.GetFullPath(Path.Combine(Root, "..", "shared"));
            if (!Directory.Exists(shared))
            {
                throw new DirectoryNotFoundException($"The shared reference folder is missing at {shared}; put it beside the repository or set TEMPME_SHARED.");
            }

            return shared;
        }
    }

    /// <summary>The tiny TempMe reference folder.</summary>
    public static string TinyReference => Path.Combine(Shared, "reference", "tiny");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TempMe.Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Could not find TempMe.Pipeline.sln above the test binaries.");
    }
}
