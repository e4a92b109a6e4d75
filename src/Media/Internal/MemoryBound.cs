using System.Globalization;

namespace TempMe.Pipeline.Media.Internal;

/// <summary>
/// Starts a child under a data-size limit with util-linux <c>prlimit</c>, which sets RLIMIT_DATA on itself and then
/// execs the program (same process id, so killing the tree still kills the program).
/// </summary>
/// <remarks>
/// Why RLIMIT_DATA and not RLIMIT_AS: since Linux 4.7 the data limit counts every private writable mapping (heap,
/// mmap'd frame buffers, thread stacks) but not address space that is only reserved. glibc reserves 64 MiB per malloc
/// arena and ffmpeg runs a thread per core, so ffmpeg's address space grows with the machine (measured: 0.9 GiB for a
/// 160x120 video on 2 threads, 1.6 GiB on 16) while its data stays near what it uses (0.26 and 0.38 GiB; 8192x8192
/// h264 on 16 threads: 1.4 GiB). A process cannot set a limit on its child between fork and exec from .NET, and setting
/// one after the start races the child's first allocations; prlimit is part of util-linux, which Debian and Ubuntu
/// (the images we ship) always install. Over the limit, ffmpeg's allocations fail and it exits with "Cannot allocate
/// memory" instead of pushing the machine into swap or the OOM killer.
/// </remarks>
internal static class MemoryBound
{
    /// <summary>The program and arguments to start: <paramref name="program"/> itself when <paramref name="limitBytes"/> is 0.</summary>
    public static (string FileName, IReadOnlyList<string> Arguments) Wrap(string program, IReadOnlyList<string> arguments, long limitBytes, string prlimitPath)
    {
        if (limitBytes <= 0)
        {
            return (program, arguments);
        }

        return (prlimitPath, ["--data=" + limitBytes.ToString(CultureInfo.InvariantCulture), "--", program, .. arguments]);
    }

    /// <summary>
    /// prlimit's reason when it started but could not exec <paramref name="program"/> (util-linux exits 126 or 127 with
    /// "failed to execute"); null when <paramref name="fileName"/> is the program itself or the exec happened.
    /// </summary>
    public static string? ExecFailure(string fileName, string program, ChildResult run)
    {
        if (fileName == program || run.ExitCode is not (126 or 127) || run.StdoutBytes > 0)
        {
            return null;
        }

        var marker = run.StderrTail.IndexOf("failed to execute", StringComparison.Ordinal);
        if (marker < 0)
        {
            return null;
        }

        var reason = run.StderrTail[marker..].Split('\n')[0];
        var colon = reason.LastIndexOf(": ", StringComparison.Ordinal);
        return colon >= 0 ? reason[(colon + 2)..].Trim() : reason.Trim();
    }
}
