using System.CommandLine;
using System.Globalization;
using System.Net;
using TempMe.Pipeline.Grains.Cluster;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// The Orleans options <c>tempme silo</c> and <c>tempme worker</c> share: ports, advertised address and cluster ids,
/// each with an environment variable (flags win) so manifests can set them without touching the command line.
/// </summary>
internal sealed class ClusterOptions
{
    /// <summary>Environment variable of <c>--silo-port</c>.</summary>
    public const string SiloPortVariable = "TEMPME_SILO_PORT";

    /// <summary>Environment variable of <c>--gateway-port</c>.</summary>
    public const string GatewayPortVariable = "TEMPME_GATEWAY_PORT";

    /// <summary>Environment variable of <c>--advertise-address</c>.</summary>
    public const string AdvertiseAddressVariable = "TEMPME_ADVERTISE_ADDRESS";

    private readonly Option<int?> _siloPort = new("--silo-port") { Description = $"Silo-to-silo port (or set {SiloPortVariable}; default {SiloEndpoints.DefaultSiloPort}; 0 picks a free port)." };
    private readonly Option<int?> _gatewayPort = new("--gateway-port") { Description = $"Client gateway port (or set {GatewayPortVariable}; default {SiloEndpoints.DefaultGatewayPort}; 0 picks a free port)." };
    private readonly Option<string?> _advertise = new("--advertise-address") { Description = $"The IP address other silos reach this one at (or set {AdvertiseAddressVariable}; default: the host's address)." };
    private readonly Option<string?> _clusterId = new("--cluster-id") { Description = $"Orleans cluster id (or set {ClusterIdentity.ClusterIdVariable}; default tempme). Silos join only their own cluster." };
    private readonly Option<string?> _serviceId = new("--service-id") { Description = $"Orleans service id (or set {ClusterIdentity.ServiceIdVariable}; default tempme). Keep it stable across upgrades." };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _siloPort, _gatewayPort, _advertise, _clusterId, _serviceId })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The endpoints from the options or their variables; throws <see cref="UsageException"/> naming the problem.</summary>
    public SiloEndpoints Endpoints(ParseResult parse)
    {
        var silo = Port(parse.GetValue(_siloPort), SiloPortVariable, "--silo-port", SiloEndpoints.DefaultSiloPort);
        var gateway = Port(parse.GetValue(_gatewayPort), GatewayPortVariable, "--gateway-port", SiloEndpoints.DefaultGatewayPort);
        IPAddress? address = null;
        var text = parse.GetValue(_advertise) is { Length: > 0 } a ? a : Environment.GetEnvironmentVariable(AdvertiseAddressVariable);
        if (!string.IsNullOrWhiteSpace(text) && !IPAddress.TryParse(text.Trim(), out address))
        {
            throw new UsageException($"--advertise-address '{text}' is not an IP address (e.g. 10.0.0.7); give the address other silos reach this host at.");
        }

        var endpoints = new SiloEndpoints(silo, gateway, address);
        return endpoints.Problem() is { } problem ? throw new UsageException(problem) : endpoints;
    }

    /// <summary>The cluster ids from the options or their variables; throws <see cref="UsageException"/> naming the problem.</summary>
    public ClusterIdentity Identity(ParseResult parse)
    {
        var identity = new ClusterIdentity(
            Text(parse.GetValue(_clusterId), ClusterIdentity.ClusterIdVariable) ?? ClusterIdentity.Default.ClusterId,
            Text(parse.GetValue(_serviceId), ClusterIdentity.ServiceIdVariable) ?? ClusterIdentity.Default.ServiceId,
            string.Equals(Environment.GetEnvironmentVariable(ClusterIdentity.KubernetesVariable), "true", StringComparison.OrdinalIgnoreCase));
        return identity.Problem() is { } problem ? throw new UsageException(problem) : identity;
    }

    private static string? Text(string? option, string variable) =>
        option is { Length: > 0 } ? option : Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v.Trim() : null;

    private static int Port(int? option, string variable, string name, int fallback)
    {
        if (option is { } value)
        {
            return value;
        }

        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port
            : throw new UsageException($"{variable} '{text}' is not a port number; give 1-65535, or 0 for a free port (it stands for {name}).");
    }
}
