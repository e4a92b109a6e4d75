namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// Where workers ask for work across jobs (one per cluster, key 0). Workers pull: each asks only when it has room
/// for another shard, so a GPU node never takes more than it can encode.
/// </summary>
[Alias("tempme.IWorkQueueGrain")]
public interface IWorkQueueGrain : IGrainWithIntegerKey
{
    /// <summary>The oldest running job with a claimable shard, or null.</summary>
    [Alias("FindClaimableJob")]
    Task<string?> FindClaimableJobAsync();
}
