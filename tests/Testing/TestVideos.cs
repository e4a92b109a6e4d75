using System.Diagnostics;
using System.Globalization;

namespace TempMe.Pipeline.Testing;

/// <summary>Makes real video files with ffmpeg's lavfi sources for tests.</summary>
internal static class TestVideos
{
    /// <summary>Writes an h264 mp4 of <paramref name="seconds"/> seconds; <paramref name="hue"/> makes clips differ.</summary>
    public static string MakeMp4(string path, double seconds, int hue = 0, string size = "160x120", int rate = 25)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Run("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", string.Create(CultureInfo.InvariantCulture, $"testsrc2=duration={seconds}:size={size}:rate={rate}"),
            "-vf", string.Create(CultureInfo.InvariantCulture, $"hue=h={hue}"),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path);
        return path;
    }

    /// <summary>Runs a program and fails with its error output when it exits non-zero.</summary>
    public static string Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}");
        }

        return stdout.Result;
    }
}
