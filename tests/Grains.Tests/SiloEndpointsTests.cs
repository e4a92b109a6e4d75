using TempMe.Pipeline.Grains.Cluster;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The --silo-port / --gateway-port pair the silo and worker commands will take.</summary>
public sealed class SiloEndpointsTests
{
    [Theory]
    [InlineData(-1, 30000, "--silo-port -1")]
    [InlineData(70000, 30000, "--silo-port 70000")]
    [InlineData(11111, 65536, "--gateway-port 65536")]
    [InlineData(12000, 12000, "both 12000")]
    public void Unusable_ports_are_named_with_the_fix(int silo, int gateway, string expected)
    {
        var endpoints = new SiloEndpoints(silo, gateway);

        Assert.Contains(expected, endpoints.Problem(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => endpoints.Resolve());
    }

    [Fact]
    public void Zero_ports_resolve_to_two_different_free_ports_and_given_ports_stay()
    {
        var free = new SiloEndpoints(0, 0).Resolve();
        var given = new SiloEndpoints().Resolve();

        Assert.InRange(free.SiloPort, 1, 65535);
        Assert.InRange(free.GatewayPort, 1, 65535);
        Assert.NotEqual(free.SiloPort, free.GatewayPort);
        Assert.Equal((SiloEndpoints.DefaultSiloPort, SiloEndpoints.DefaultGatewayPort), (given.SiloPort, given.GatewayPort));
    }

    [Fact]
    public void A_silo_without_gateway_may_share_no_port_and_keeps_gateway_zero()
    {
        var worker = new SiloEndpoints(0, 0).WithoutGateway().Resolve();

        Assert.Null(new SiloEndpoints(12000, 12000).WithoutGateway().Problem());
        Assert.False(worker.HasGateway);
        Assert.Equal(0, worker.GatewayPort);
        Assert.NotEqual(0, worker.SiloPort);
    }
}
