namespace TempMe.Pipeline.Encoder;

/// <summary>
/// Model settings beyond the spec for query encoders; null keeps the default that <c>tempme index</c> uses. They enter
/// the fingerprint, so they must match the ones the index was made with (only indexes made with non-default settings need them).
/// </summary>
/// <param name="VisionHeads">Visual attention heads (default width/64).</param>
/// <param name="TextHeads">Text attention heads (default width/64).</param>
/// <param name="ClipLayers">0-based ClipMe layers (default 8, 9, 10).</param>
public sealed record QueryModelSettings(int? VisionHeads = null, int? TextHeads = null, IReadOnlyList<int>? ClipLayers = null);
