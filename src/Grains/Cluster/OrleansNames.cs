namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>Names the Orleans silos, clients and grains of TempMe agree on.</summary>
public static class OrleansNames
{
    /// <summary>The ADO.NET invariant the Orleans providers load Npgsql by.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>The grain storage that corpus-job, shard and retry grains keep their state in (<c>[PersistentState(name, JobStorage)]</c>).</summary>
    public const string JobStorage = "jobs";
}
