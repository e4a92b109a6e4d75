using System.Globalization;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>A real tmpfs of a fixed size (a small disk that really fills up); unmounted on dispose. Needs root.</summary>
internal sealed class Tmpfs : IDisposable
{
    private Tmpfs(string path) => Path = path;

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>Bytes still free on the mount.</summary>
    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (mount's syntax, e.g. <c>200k</c>) at <paramref name="path"/>.</summary>
    public static Tmpfs Mount(string path, string size)
    {
        Directory.CreateDirectory(path);
        TestVideos.Run("mount", "-t", "tmpfs", "-o", string.Create(CultureInfo.InvariantCulture, $"size={size}"), "tmpfs", path);
        return new Tmpfs(path);
    }

    /// <summary>Fills the disk until the kernel refuses more bytes.</summary>
    public void Fill() => TestVideos.Run("sh", "-c", $"dd if=/dev/zero of='{System.IO.Path.Combine(Path, "filler")}' bs=4096 2>/dev/null || true");

    /// <summary>Unmounts (lazily, so a process still holding a file there cannot keep the mount alive).</summary>
    public void Dispose() => TestVideos.Run("umount", "-l", Path);
}
