using System.Globalization;
using System.Net;

namespace TempMe.Pipeline.Testing;

/// <summary>
/// A Linux network namespace joined to the host by a veth pair: the host side is <see cref="HostAddress"/>/30, the
/// namespace side <see cref="Address"/>/30 with the default route through the host side, so a process in the namespace
/// reaches every address of the host (Linux accepts packets for any local address on any interface).
/// <see cref="Cut"/> takes the namespace side down: nothing passes either way until <see cref="Heal"/>, which is what a
/// network partition looks like to both sides, while the host side stays up, so processes on the host still reach
/// each other at <see cref="HostAddress"/>. Needs root and iproute2 (<c>ip netns</c>).
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private readonly string _hostSide;
    private readonly string _namespaceSide;
    private bool _disposed;

    private NetworkNamespace(string name, string hostSide, string namespaceSide, IPAddress hostAddress, IPAddress address)
    {
        Name = name;
        _hostSide = hostSide;
        _namespaceSide = namespaceSide;
        HostAddress = hostAddress;
        Address = address;
    }

    /// <summary>The namespace's name (<c>ip netns exec NAME ...</c>).</summary>
    public string Name { get; }

    /// <summary>The host end of the veth pair, seen from the namespace as its gateway.</summary>
    public IPAddress HostAddress { get; }

    /// <summary>The namespace end of the veth pair.</summary>
    public IPAddress Address { get; }

    /// <summary>The words that run a command inside the namespace.</summary>
    public string[] ExecPrefix => ["ip", "netns", "exec", Name];

    /// <summary>
    /// Creates <c>tempme-p&lt;pid&gt;</c> with a /30 in 10.213.0.0/16 that no interface of the host uses yet; whatever
    /// was made is removed again when a step fails.
    /// </summary>
    public static NetworkNamespace Create()
    {
        var pid = Environment.ProcessId;
        var name = $"tempme-p{pid}";
        // Interface names are at most 15 characters.
        var hostSide = $"tmh{pid % 10_000_000}";
        var nsSide = $"tmn{pid % 10_000_000}";
        var used = TestVideos.Run("ip", "-o", "-4", "addr", "show");
        var slot = pid % 16_384;
        string Subnet(int s) => string.Create(CultureInfo.InvariantCulture, $"10.213.{s / 64}.{s % 64 * 4}");
        while (used.Contains(" " + Host(Subnet(slot)) + "/", StringComparison.Ordinal))
        {
            slot = (slot + 1) % 16_384;
        }

        var subnet = Subnet(slot);
        var made = new NetworkNamespace(name, hostSide, nsSide, IPAddress.Parse(Host(subnet)), IPAddress.Parse(Inside(subnet)));
        try
        {
            // The host's name server is out of reach from the namespace, and a lookup there waits for its timeout
            // (.NET resolves names at start-up): `ip netns exec` mounts this file over /etc/resolv.conf, and a
            // name server on the namespace's own loopback fails at once instead.
            Directory.CreateDirectory(made.EtcFolder);
            File.WriteAllText(Path.Combine(made.EtcFolder, "resolv.conf"), "nameserver 127.0.0.1\n");
            TestVideos.Run("ip", "netns", "add", name);
            TestVideos.Run("ip", "link", "add", hostSide, "type", "veth", "peer", "name", nsSide);
            TestVideos.Run("ip", "link", "set", nsSide, "netns", name);
            TestVideos.Run("ip", "addr", "add", made.HostAddress + "/30", "dev", hostSide);
            TestVideos.Run("ip", "link", "set", hostSide, "up");
            TestVideos.Run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
            TestVideos.Run("ip", "netns", "exec", name, "ip", "addr", "add", made.Address + "/30", "dev", nsSide);
            TestVideos.Run("ip", "netns", "exec", name, "ip", "link", "set", nsSide, "up");
            TestVideos.Run("ip", "netns", "exec", name, "ip", "route", "add", "default", "via", made.HostAddress.ToString());
            return made;
        }
        catch
        {
            made.Dispose();
            throw;
        }
    }

    // Per-namespace files that `ip netns exec` mounts over their /etc counterparts.
    private string EtcFolder => Path.Combine("/etc/netns", Name);

    /// <summary>
    /// Partitions the namespace from the host: its side of the veth pair goes down, so packets either way fail
    /// ("no route to host"), while the host side's address stays local to the host.
    /// </summary>
    public void Cut() => TestVideos.Run("ip", "netns", "exec", Name, "ip", "link", "set", _namespaceSide, "down");

    /// <summary>Ends the partition: the namespace side comes up again with its default route (taking it down dropped the route).</summary>
    public void Heal()
    {
        TestVideos.Run("ip", "netns", "exec", Name, "ip", "link", "set", _namespaceSide, "up");
        TestVideos.Run("ip", "netns", "exec", Name, "ip", "route", "replace", "default", "via", HostAddress.ToString());
    }

    /// <summary>Deletes the veth pair and the namespace, ignoring parts that are already gone.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var command in new[] { new[] { "link", "del", _hostSide }, ["netns", "del", Name] })
        {
            try
            {
                TestVideos.Run("ip", command);
            }
            catch (InvalidOperationException)
            {
                // Already gone (deleting the namespace removes its end of the pair, and so the pair).
            }
        }

        if (Directory.Exists(EtcFolder))
        {
            Directory.Delete(EtcFolder, recursive: true);
        }
    }

    private static string Host(string subnet) => Offset(subnet, 1);

    private static string Inside(string subnet) => Offset(subnet, 2);

    private static string Offset(string subnet, int by)
    {
        var parts = subnet.Split('.');
        parts[3] = (int.Parse(parts[3], CultureInfo.InvariantCulture) + by).ToString(CultureInfo.InvariantCulture);
        return string.Join('.', parts);
    }
}
