namespace TempMe.Pipeline.Hosting;

/// <summary>How a host answers <c>/readyz</c>.</summary>
public sealed class TempMeReadiness
{
    /// <summary>Whether the host can do its work (e.g. the database answers and is migrated); never throws.</summary>
    public required Func<CancellationToken, Task<bool>> IsReadyAsync { get; init; }

    /// <summary>The problem detail returned with 503 when not ready.</summary>
    public string NotReadyDetail { get; init; } = "Not ready.";
}
