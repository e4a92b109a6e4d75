using System.Runtime.InteropServices;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// Tells a regular file from a FIFO, device or socket without opening it. Opening a FIFO for reading blocks until a
/// writer comes (forever, deaf to SIGTERM), and .NET's <see cref="FileInfo"/> reports a FIFO as a normal empty file
/// (its <see cref="FileSystemInfo.Attributes"/> and <see cref="FileSystemInfo.UnixFileMode"/> carry no file type).
/// </summary>
internal static unsafe partial class FileKind
{
    // stat(2) through the runtime's own native shim, which .NET's FileSystemInfo uses and every .NET on Unix ships.
    // Its FileStatus starts with int32 Flags and int32 Mode; Mode holds the S_IFMT type bits with the usual values.
    // The buffer is far larger than the struct, so later fields may grow without harm.
    private const int StatusBufferBytes = 512;
    private const int ModeOffset = 4;
    private const int TypeMask = 0xF000;
    private const int Regular = 0x8000;

    /// <summary>Null for a regular file (after following symbolic links); otherwise what it is, in words.</summary>
    public static string? DescribeIfNotRegular(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Directory.Exists(path) ? "a directory" : null;
        }

        int mode;
        try
        {
            var status = stackalloc byte[StatusBufferBytes];
            if (Stat(path, status) != 0)
            {
                // Vanished or unreadable: opening it reports that plainly.
                return null;
            }

            mode = *(int*)(status + ModeOffset);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No shim (an unusual host): a special file still reads as 0 bytes, which the size check before opening refuses.
            return null;
        }

        return (mode & TypeMask) switch
        {
            Regular => null,
            0x1000 => "a FIFO (named pipe)",
            0x2000 => "a character device",
            0x4000 => "a directory",
            0x6000 => "a block device",
            0xC000 => "a socket",
            _ => "an unknown file type",
        };
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, byte* output);
}
