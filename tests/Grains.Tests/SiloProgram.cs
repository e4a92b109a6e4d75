using Microsoft.Extensions.Hosting;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>
/// The test assembly's entry point, so a test can run a silo in a child process (<c>dotnet exec
/// TempMe.Pipeline.Orleans.Tests.dll silo CONNECTION CLUSTER NAME</c>) and kill it with SIGKILL: a silo stopped
/// inside the test process still marks itself dead on the way out, a killed process cannot.
/// </summary>
internal static class SiloProgram
{
    /// <summary>The line the child prints once its silo has joined.</summary>
    public const string ReadyLine = "silo ready";

    private static async Task<int> Main(string[] args)
    {
        if (args is not ["silo", var connectionString, var clusterId, var name])
        {
            await Console.Error.WriteLineAsync("usage: silo CONNECTION-STRING CLUSTER-ID SILO-NAME (started by the Orleans tests)");
            return 2;
        }

        using var host = TestSilo.Build(connectionString, clusterId, name);
        await host.StartAsync();
        await Console.Out.WriteLineAsync(ReadyLine);
        await Console.Out.FlushAsync();
        await host.WaitForShutdownAsync(); // until killed by the test (or its stdin-less parent goes away)
        return 0;
    }
}
