using System.Diagnostics.Metrics;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing;

/// <summary>
/// The process-wide meter <c>TempMe.Pipeline</c> and the instruments the shard pipeline records. Hosts export them
/// (Prometheus text on <c>/metrics</c>, OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set); dots in instrument names
/// become underscores in Prometheus, and counters get <c>_total</c>.
/// </summary>
public static class PipelineMetrics
{
    /// <summary>Tag naming a failure's stable error code (see <c>ErrorCodes</c>).</summary>
    public const string ErrorCodeTag = "error_code";

    /// <summary>The meter of the pipeline's own instruments (hosts create their own meters of the same name for gauges).</summary>
    public static Meter Meter { get; } = new(TelemetryNames.MeterName, "1.0");

    /// <summary>Videos that got their embedding (computed or reused), exported as <c>tempme_videos_done_total</c>.</summary>
    public static Counter<long> VideosDone { get; } = Meter.CreateCounter<long>("tempme.videos.done", "{video}", "Videos that got their embedding in this process (computed or reused by content hash).");

    /// <summary>Failed video attempts by <c>error_code</c>, exported as <c>tempme_videos_failed_total</c>.</summary>
    public static Counter<long> VideosFailed { get; } = Meter.CreateCounter<long>("tempme.videos.failed", "{video}", "Video attempts that failed in this process, by error_code (retryable ones may succeed later).");

    /// <summary>Thumbnails that could not be made or written (the videos still succeed), exported as <c>tempme_thumbnails_failed_total</c>.</summary>
    public static Counter<long> ThumbnailFailures { get; } = Meter.CreateCounter<long>("tempme.thumbnails.failed", "{thumbnail}", "Search-result thumbnails that could not be made, written or looked up (their videos still succeed and show none).");

    /// <summary>Seconds to fetch one source video (download or local open) and hash it.</summary>
    public static Histogram<double> DownloadSeconds { get; } = Meter.CreateHistogram<double>("tempme.download.seconds", "s", "Seconds to fetch (download) and hash one source video.");

    /// <summary>Seconds of ffprobe + ffmpeg for one video.</summary>
    public static Histogram<double> DecodeSeconds { get; } = Meter.CreateHistogram<double>("tempme.decode.seconds", "s", "Seconds to probe and decode the sampled frames of one video.");

    /// <summary>Encoder seconds per video (each batch's time split over its videos).</summary>
    public static Histogram<double> EncodeSeconds { get; } = Meter.CreateHistogram<double>("tempme.encode.seconds", "s", "Encoder seconds per video (a batch's time split over its videos).");

    /// <summary>Seconds to write one shard's part (.npy + .jsonl) to the output store.</summary>
    public static Histogram<double> UploadSeconds { get; } = Meter.CreateHistogram<double>("tempme.upload.seconds", "s", "Seconds to write one shard's part files to the output store.");
}
