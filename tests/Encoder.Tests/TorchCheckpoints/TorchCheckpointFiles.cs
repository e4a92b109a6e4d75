using System.Diagnostics;

namespace TempMe.Pipeline.Encoder.Tests.TorchCheckpoints;

/// <summary>
/// The PyTorch checkpoints the tests load, written once by real torch (Debian's python3-torch) from the tiny reference
/// weights: make_checkpoints.py runs in a temporary folder, deleted afterwards.
/// </summary>
public sealed class TorchCheckpointFiles : IDisposable
{
    public TorchCheckpointFiles()
    {
        Folder = Directory.CreateTempSubdirectory("tempme-torch").FullName;
        var script = Path.Combine(Folder, "make_checkpoints.py");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "TorchCheckpoints", "make_checkpoints.py"), script);
        var python = Environment.GetEnvironmentVariable("TEMPME_TEST_PYTHON") is { Length: > 0 } p ? p : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Folder };
        foreach (var a in new[] { script, TinyReference.WeightsPath("weights.safetensors"), Folder })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {python}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();

        // A guard against a hung interpreter, not a speed check.
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{python} make_checkpoints.py did not finish in 5 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{python} make_checkpoints.py failed ({process.ExitCode}); it needs torch: apt-get install python3-torch (scripts/install-deps.sh --test), " +
                $"or set TEMPME_TEST_PYTHON to a python3 with torch.\n{stdout.Result}\n{stderr.Result}");
        }
    }

    /// <summary>The folder holding the checkpoints.</summary>
    public string Folder { get; }

    /// <summary>A file in <see cref="Folder"/>.</summary>
    public string this[string name] => Path.Combine(Folder, name);

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
