using System.Globalization;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>The key of an <see cref="IShardGrain"/>: <c>JOB/SHARD</c>. Job ids never contain a slash (the silo makes them).</summary>
public static class ShardKey
{
    /// <summary>The key of shard <paramref name="shardId"/> of job <paramref name="jobId"/>.</summary>
    public static string Of(string jobId, long shardId) => jobId + "/" + shardId.ToString(CultureInfo.InvariantCulture);

    /// <summary>The job id and shard id of a key made by <see cref="Of"/>.</summary>
    /// <exception cref="FormatException">The key is not <c>JOB/SHARD</c>.</exception>
    public static (string JobId, long ShardId) Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.LastIndexOf('/');
        if (slash <= 0 || !long.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var shard))
        {
            throw new FormatException($"'{key}' is not a shard key (JOB/SHARD).");
        }

        return (key[..slash], shard);
    }
}
