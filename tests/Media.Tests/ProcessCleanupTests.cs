using System.Text;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Media.Tests;

[Collection(VideoCollection.Name)]
public sealed class ProcessCleanupTests(Videos videos)
{
    /// <summary>Process ids whose command line mentions <paramref name="text"/> (from /proc/*/cmdline).</summary>
    private static List<int> ProcessesMentioning(string text)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var commandLine = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(dir, "cmdline"))).Replace('\0', ' ');
                if (commandLine.Contains(text, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    /// <summary>True for the ffmpeg decode, started directly or through prlimit (the memory limit).</summary>
    private static bool IsFfmpeg(string commandLine) =>
        commandLine.StartsWith("ffmpeg ", StringComparison.Ordinal) || commandLine.Contains(" -- ffmpeg ", StringComparison.Ordinal);

    /// <summary>
    /// Waits for <paramref name="pid"/> to show <paramref name="text"/> in its command line: while prlimit execs ffmpeg,
    /// /proc/PID/cmdline reads empty for a moment, so one look right after the start can miss a live process.
    /// </summary>
    private static async Task<bool> AppearsAsync(int pid, string text, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (ProcessesMentioning(text).Contains(pid))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    private static async Task<string> CopyAsync(string path, string name)
    {
        // A private copy, so no other test's ffmpeg can match the path.
        var copy = Path.Combine(Path.GetDirectoryName(path)!, name);
        File.Copy(path, copy, overwrite: true);
        await Task.Yield();
        return copy;
    }

    [Fact]
    public async Task Timeout_kills_ffmpeg_and_reports_timeout()
    {
        // AVI states its frame count, so only one short ffprobe runs before ffmpeg starts.
        var path = await CopyAsync(await videos.Mpeg4AviNtsc, "timeout-victim.avi");
        var seen = new List<int>();
        void Watch(int pid, string commandLine)
        {
            if (commandLine.Contains(path, StringComparison.Ordinal) && IsFfmpeg(commandLine))
            {
                lock (seen)
                {
                    seen.Add(pid);
                }
            }
        }

        // -re makes ffmpeg read at the native rate: 15 s of video takes 15 s, far past the 4 s limit.
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PerVideoTimeout = TimeSpan.FromSeconds(4) }) { ExtraInputArguments = ["-re"] };
        Internal.ChildProcess.Started += Watch;
        FrameSample sample;
        try
        {
            sample = await sampler.SampleAsync(path, SamplingSettings.Default, CancellationToken.None);
        }
        finally
        {
            Internal.ChildProcess.Started -= Watch;
        }

        Assert.Equal(ErrorCodes.Timeout, sample.ErrorCode);
        Assert.Contains("decoding", sample.Message, StringComparison.Ordinal);
        Assert.InRange(sample.DecodeSeconds, 3.9, 14);
        var pid = Assert.Single(seen);
        Assert.False(Directory.Exists($"/proc/{pid}"), $"ffmpeg {pid} is still there");
        Assert.Empty(ProcessesMentioning(path));
    }

    [Fact]
    public async Task Cancellation_kills_ffmpeg_then_throws()
    {
        var path = await CopyAsync(await videos.H264MkvNinety, "cancel-victim.mkv");
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Watch(int pid, string commandLine)
        {
            if (commandLine.Contains(path, StringComparison.Ordinal) && IsFfmpeg(commandLine))
            {
                started.TrySetResult(pid);
            }
        }

        var sampler = new FfmpegFrameSampler() { ExtraInputArguments = ["-re"] };
        using var cancel = new CancellationTokenSource();
        Internal.ChildProcess.Started += Watch;
        try
        {
            var run = sampler.SampleAsync(path, SamplingSettings.Default, cancel.Token);
            var pid = await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(await AppearsAsync(pid, path, TimeSpan.FromSeconds(10)), $"ffmpeg {pid} never showed the path in /proc");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            Assert.False(Directory.Exists($"/proc/{pid}"), $"ffmpeg {pid} is still there");
            Assert.Empty(ProcessesMentioning(path));
        }
        finally
        {
            Internal.ChildProcess.Started -= Watch;
        }
    }
}
