using System.Collections.Concurrent;
using System.Threading.Channels;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing;

/// <summary>The units of work a run passes between its stages.</summary>
public sealed partial class ShardPipeline
{
    /// <summary>What one run's stages share: its queues, its shards in hand and the slots that bound them.</summary>
    private sealed class PipelineRun : IDisposable
    {
        public PipelineRun(ShardPipelineOptions options, CancellationToken cancellationToken)
        {
            Stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Token = Stop.Token;
            Videos = Channel.CreateBounded<VideoJob>(new BoundedChannelOptions(Math.Max(2, options.Decoders * 2)) { SingleReader = false, SingleWriter = true });
            Decoded = Channel.CreateBounded<DecodedVideo>(new BoundedChannelOptions(Math.Max(2, options.BatchSize * 2)) { SingleReader = true });
            Slots = new SemaphoreSlim(Math.Max(1, options.ShardsInFlight));
        }

        /// <summary>Cancels every stage (the caller's token, or the first stage failure).</summary>
        public CancellationTokenSource Stop { get; }

        public CancellationToken Token { get; }

        /// <summary>Videos of claimed shards waiting for a decoder (2 × decoders).</summary>
        public Channel<VideoJob> Videos { get; }

        /// <summary>Decoded videos waiting for the encoder (2 × batch).</summary>
        public Channel<DecodedVideo> Decoded { get; }

        /// <summary>Shards claimed and not yet finished, by shard id.</summary>
        public ConcurrentDictionary<long, ShardWork> Active { get; } = new();

        /// <summary>One per shard in flight: a claim takes one, finishing a shard gives it back.</summary>
        public SemaphoreSlim Slots { get; }

        /// <summary>Released when a shard finishes, so an idle claimer looks again at once.</summary>
        public SemaphoreSlim ShardDone { get; } = new(0);

        public void Dispose()
        {
            Slots.Dispose();
            ShardDone.Dispose();
            Stop.Dispose();
        }
    }

    private sealed record VideoJob(ShardWork Work, int Index)
    {
        public ShardVideo Video => Work.Lease.Videos[Index];
    }

    private sealed record DecodedVideo(VideoJob Job, string Sha, FrameSample Sample, double DecodeSeconds, string? Thumbnail);

    private sealed class ShardWork(ShardLease lease, CancellationToken runToken)
    {
        private int _outstanding = lease.Videos.Count;
        private volatile bool _lost;
        private int _heartbeatStopped;

        public ShardLease Lease { get; } = lease;

        public VideoResult?[] Results { get; } = new VideoResult?[lease.Videos.Count];

        public CancellationTokenSource HeartbeatStop { get; } = CancellationTokenSource.CreateLinkedTokenSource(runToken);

        public Task Heartbeat { get; set; } = Task.CompletedTask;

        /// <summary>Whether a renewal found the lease gone.</summary>
        public bool IsLost => _lost;

        public void MarkLost() => _lost = true;

        /// <summary>Stores a result; true when it was the shard's last.</summary>
        public bool SetResult(int index, VideoResult result)
        {
            Results[index] = result;
            return Interlocked.Decrement(ref _outstanding) == 0;
        }

        /// <summary>Stops the heartbeat and waits for it; a second call does nothing.</summary>
        public async Task StopHeartbeatAsync()
        {
            if (Interlocked.Exchange(ref _heartbeatStopped, 1) == 1)
            {
                return;
            }

            await HeartbeatStop.CancelAsync();
            await Heartbeat;
            HeartbeatStop.Dispose();
        }
    }
}
