using System.Diagnostics;
using System.Text;

namespace TempMe.Pipeline.Testing;

/// <summary>A running <c>tempme</c> process whose output is drained into memory (so it never blocks on a full pipe).</summary>
public sealed class TempmeProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Process _process;
    private bool _disposed;
    private int _exitCode = -1;

    public TempmeProcess(string[] args, IReadOnlyDictionary<string, string?> environment)
        : this([], args, environment)
    {
    }

    /// <summary>
    /// Starts <c>dotnet tempme.dll</c> under <paramref name="prefix"/> (a command that runs another, such as
    /// <c>ip netns exec NAME</c>); an empty prefix starts it directly.
    /// </summary>
    public TempmeProcess(string[] prefix, string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        var info = new ProcessStartInfo(prefix.Length > 0 ? prefix[0] : "dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (prefix.Length > 0)
        {
            foreach (var word in prefix[1..])
            {
                info.ArgumentList.Add(word);
            }

            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(TempmeCli.Dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Several silos run on this host: each picks free Orleans ports unless a test names them.
        info.Environment["TEMPME_SILO_PORT"] = "0";
        info.Environment["TEMPME_GATEWAY_PORT"] = "0";
        // ...and publishes loopback, so the host's other interfaces (a test's veth, for one) never matter.
        info.Environment["TEMPME_ADVERTISE_ADDRESS"] = "127.0.0.1";
        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Name = args[0];
        Id = _process.Id;
    }

    public string Name { get; }

    public int Id { get; }

    // Read after Dispose too (a cluster dumps every process it ever started, a killed silo among them).
    public bool HasExited => _disposed || _process.HasExited;

    public int ExitCode => _disposed ? _exitCode : _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>kill -9.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM, then waits for the exit.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        TestVideos.Run("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"tempme {Name} did not exit within {timeout}; output:\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process tree if it still runs; safe to call twice (a test and its cluster both dispose it).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        if (_process.HasExited)
        {
            _exitCode = _process.ExitCode;
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
