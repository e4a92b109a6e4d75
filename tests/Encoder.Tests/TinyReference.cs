using System.Text.Json;
using TempMe.Pipeline.Encoder.Internal;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Encoder.Tests;

/// <summary>Loads reference/tiny once: inputs, reference.json, and encoders for both weight files.</summary>
internal static class TinyReference
{
    private static readonly Lazy<JsonDocument> LazyJson = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.TinyReference, "reference.json"))));
    private static readonly Lazy<(float[] Video, long[] TextIds, long[] TextMask)> LazyInputs = new(LoadInputs);

    public static JsonElement Json => LazyJson.Value.RootElement;

    public static float[] Video => LazyInputs.Value.Video;

    public static long[] TextIds => LazyInputs.Value.TextIds;

    public static long[] TextMask => LazyInputs.Value.TextMask;

    public static string WeightsPath(string file) => Path.Combine(RepoPaths.TinyReference, file);

    public static EncoderOptions Options(bool merge = true) => new()
    {
        VisionHeads = 2,
        TextHeads = 2,
        LoadText = true,
        Schedule = merge ? TempMeSchedule.Default with { ClipLayers = [1, 2, 3] } : TempMeSchedule.NoMerge,
    };

    public static float[] Floats(JsonElement e)
    {
        var list = new List<float>();
        Flatten(e, list);
        return [.. list];
    }

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static void Flatten(JsonElement e, List<float> into)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var x in e.EnumerateArray())
            {
                Flatten(x, into);
            }
        }
        else
        {
            into.Add(e.GetSingle());
        }
    }

    private static (float[], long[], long[]) LoadInputs()
    {
        using var f = SafeTensorsFile.Open(Path.Combine(RepoPaths.TinyReference, "inputs.safetensors"));
        return (f.ReadFloat32("video"), f.ReadInt64("text_ids"), f.ReadInt64("text_mask"));
    }
}

/// <summary>Records merge decisions and hidden states.</summary>
internal sealed class RecordingTrace : IEncoderTrace
{
    public List<(int Layer, MergeKind Kind, int R, int Cls, int TokensIn, int Row, int[] Src, int[] Dst, int[] Unm)> Merges { get; } = [];

    public List<(int Layer, string Point, float[] X, float[] Size, int Rows, int Tokens, int Width)> Hidden { get; } = [];

    public void OnMerge(int layer, MergeKind kind, int r, int cls, int tokensIn, int row, ReadOnlySpan<int> src, ReadOnlySpan<int> dst, ReadOnlySpan<int> unm)
        => Merges.Add((layer, kind, r, cls, tokensIn, row, src.ToArray(), dst.ToArray(), unm.ToArray()));

    public void OnHidden(int layer, string point, ReadOnlySpan<float> x, ReadOnlySpan<float> size, int rows, int tokens, int width)
        => Hidden.Add((layer, point, x.ToArray(), size.ToArray(), rows, tokens, width));
}
