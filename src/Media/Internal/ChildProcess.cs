using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace TempMe.Pipeline.Media.Internal;

/// <summary>What a finished child process left behind.</summary>
internal sealed class ChildResult
{
    /// <summary>The exit status.</summary>
    public int ExitCode { get; init; }

    /// <summary>Bytes written into the caller's stdout buffer.</summary>
    public int StdoutBytes { get; init; }

    /// <summary>Bytes of stdout beyond the caller's buffer (read and dropped).</summary>
    public long StdoutOverflow { get; init; }

    /// <summary>Captured stdout when no buffer was given (bounded).</summary>
    public string StdoutText { get; init; } = "";

    /// <summary>The last lines of stderr that the line filter did not take (bounded).</summary>
    public string StderrTail { get; init; } = "";

    /// <summary>The stderr lines that the line filter took, in order.</summary>
    public IReadOnlyList<string> TakenLines { get; init; } = [];
}

/// <summary>
/// Runs ffmpeg/ffprobe with pipes: stdout straight into a caller buffer (no temp files), stderr read concurrently and
/// bounded. On cancellation the whole process tree is killed and waited for before <see cref="OperationCanceledException"/>.
/// </summary>
internal static class ChildProcess
{
    private const int StderrTailChars = 16 * 1024;
    private const int MaxTakenLines = 100_000;
    private const int MaxStdoutTextBytes = 8 * 1024 * 1024;

    /// <summary>Raised with the process id and the command line (program, then arguments, space-separated) after each child starts; tests use it.</summary>
    public static event Action<int, string>? Started;

    /// <summary>Runs <paramref name="fileName"/> to completion.</summary>
    /// <param name="fileName">Program to run.</param>
    /// <param name="arguments">Arguments, passed without a shell.</param>
    /// <param name="stdoutBuffer">Where stdout goes; when empty, stdout is captured as text instead.</param>
    /// <param name="takeLine">Stderr lines for which this returns true go to <see cref="ChildResult.TakenLines"/>.</param>
    /// <param name="cancellationToken">Kills the process tree when it fires.</param>
    /// <exception cref="Win32Exception">The program could not be started.</exception>
    public static async Task<ChildResult> RunAsync(
        string fileName,
        IReadOnlyList<string> arguments,
        Memory<byte> stdoutBuffer,
        Func<string, bool>? takeLine,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var process = new Process { StartInfo = StartInfo(fileName, arguments) };
        process.Start();
        Started?.Invoke(process.Id, fileName + " " + string.Join(' ', arguments));
        process.StandardInput.Close();

        var killed = 0;
        void Kill()
        {
            if (Interlocked.Exchange(ref killed, 1) == 0)
            {
                KillTree(process);
            }
        }

        using (cancellationToken.UnsafeRegister(_ => Kill(), null))
        {
            try
            {
                return await CollectAsync(process, stdoutBuffer, takeLine, cancellationToken);
            }
            catch
            {
                // Whatever went wrong (cancellation included), leave no child behind.
                Kill();
                await process.WaitForExitAsync(CancellationToken.None);
                throw;
            }
        }
    }

    /// <summary>Pipes for all three streams, no shell, arguments passed one by one.</summary>
    private static ProcessStartInfo StartInfo(string fileName, IReadOnlyList<string> arguments)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return startInfo;
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (Win32Exception)
        {
            // Exiting while we killed it.
        }
    }

    /// <summary>Reads stdout (into the buffer, or as text) while stderr is read concurrently, then waits for the exit.</summary>
    private static async Task<ChildResult> CollectAsync(Process process, Memory<byte> stdoutBuffer, Func<string, bool>? takeLine, CancellationToken cancellationToken)
    {
        var stderrTask = ReadStderrAsync(process.StandardError, takeLine);
        int stdoutBytes;
        long overflow;
        var stdoutText = "";
        if (stdoutBuffer.IsEmpty)
        {
            (stdoutText, overflow) = await ReadTextAsync(process.StandardOutput.BaseStream);
            stdoutBytes = 0;
        }
        else
        {
            (stdoutBytes, overflow) = await ReadIntoAsync(process.StandardOutput.BaseStream, stdoutBuffer);
        }

        var (tail, taken) = await stderrTask;
        await process.WaitForExitAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested();
        return new ChildResult
        {
            ExitCode = process.ExitCode,
            StdoutBytes = stdoutBytes,
            StdoutOverflow = overflow,
            StdoutText = stdoutText,
            StderrTail = tail,
            TakenLines = taken,
        };
    }

    private static async Task<(int Bytes, long Overflow)> ReadIntoAsync(Stream stream, Memory<byte> buffer)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer[filled..], CancellationToken.None);
            if (read == 0)
            {
                return (filled, 0);
            }

            filled += read;
        }

        long overflow = 0;
        var scratch = new byte[16 * 1024];
        int n;
        while ((n = await stream.ReadAsync(scratch, CancellationToken.None)) > 0)
        {
            overflow += n;
        }

        return (filled, overflow);
    }

    private static async Task<(string Text, long Overflow)> ReadTextAsync(Stream stream)
    {
        using var memory = new MemoryStream();
        var scratch = new byte[16 * 1024];
        long overflow = 0;
        int n;
        while ((n = await stream.ReadAsync(scratch, CancellationToken.None)) > 0)
        {
            if (memory.Length + n <= MaxStdoutTextBytes)
            {
                memory.Write(scratch, 0, n);
            }
            else
            {
                overflow += n;
            }
        }

        return (Encoding.UTF8.GetString(memory.GetBuffer(), 0, (int)memory.Length), overflow);
    }

    private static async Task<(string Tail, List<string> Taken)> ReadStderrAsync(StreamReader reader, Func<string, bool>? takeLine)
    {
        var taken = new List<string>();
        var tail = new Queue<string>();
        var tailChars = 0;
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            if (takeLine is not null && takeLine(line))
            {
                if (taken.Count < MaxTakenLines)
                {
                    taken.Add(line);
                }

                continue;
            }

            if (line.Length > StderrTailChars)
            {
                line = line[..StderrTailChars];
            }

            tail.Enqueue(line);
            tailChars += line.Length + 1;
            while (tailChars > StderrTailChars && tail.Count > 1)
            {
                tailChars -= tail.Dequeue().Length + 1;
            }
        }

        return (string.Join('\n', tail), taken);
    }
}
