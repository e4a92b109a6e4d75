using System.Net;
using System.Net.Sockets;

namespace TempMe.Pipeline.Testing;

/// <summary>What the test machine provides: required variables (set by scripts/test.sh) and free loopback ports.</summary>
public static class TestEnvironment
{
    /// <summary>The value of <paramref name="variable"/>; a missing one fails the test with what it must hold, never skips it.</summary>
    public static string Require(string variable, string what) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{variable} is not set: it must hold {what}. Run the tests through scripts/test.sh or set it yourself.");

    /// <summary>A loopback TCP port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
