using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// A real, small OpenAI-CLIP-named checkpoint (width 64, 12 layers, patch 32, output 32) with seeded random weights: as
/// deep as ViT-B/32, so the worker's default TempMe schedule fits, yet only about 3 MB to upload as a blob model.
/// </summary>
internal static class TinyCheckpoint
{
    private const int Width = 64;
    private const int Layers = 12;

    /// <summary>The checkpoint as safetensors bytes.</summary>
    public static Task<byte[]> BytesAsync()
    {
        var random = new Random(11);
        float[] Noise(int n) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() - 0.5) * 0.04)).ToArray();
        float[] Fill(int n, float value) => Enumerable.Repeat(value, n).ToArray();
        var tensors = new List<(string, int[], float[])>
        {
            ("visual.conv1.weight", [Width, 3, 32, 32], Noise(Width * 3 * 32 * 32)),
            ("visual.class_embedding", [Width], Noise(Width)),
            ("visual.positional_embedding", [50, Width], Noise(50 * Width)),
            ("visual.ln_pre.weight", [Width], Fill(Width, 1)),
            ("visual.ln_pre.bias", [Width], Fill(Width, 0)),
        };
        for (var i = 0; i < Layers; i++)
        {
            var p = $"visual.transformer.resblocks.{i}.";
            tensors.Add((p + "ln_1.weight", [Width], Fill(Width, 1)));
            tensors.Add((p + "ln_1.bias", [Width], Fill(Width, 0)));
            tensors.Add((p + "attn.in_proj_weight", [3 * Width, Width], Noise(3 * Width * Width)));
            tensors.Add((p + "attn.in_proj_bias", [3 * Width], Fill(3 * Width, 0)));
            tensors.Add((p + "attn.out_proj.weight", [Width, Width], Noise(Width * Width)));
            tensors.Add((p + "attn.out_proj.bias", [Width], Fill(Width, 0)));
            tensors.Add((p + "ln_2.weight", [Width], Fill(Width, 1)));
            tensors.Add((p + "ln_2.bias", [Width], Fill(Width, 0)));
            tensors.Add((p + "mlp.c_fc.weight", [4 * Width, Width], Noise(4 * Width * Width)));
            tensors.Add((p + "mlp.c_fc.bias", [4 * Width], Fill(4 * Width, 0)));
            tensors.Add((p + "mlp.c_proj.weight", [Width, 4 * Width], Noise(4 * Width * Width)));
            tensors.Add((p + "mlp.c_proj.bias", [Width], Fill(Width, 0)));
        }

        tensors.Add(("visual.ln_post.weight", [Width], Fill(Width, 1)));
        tensors.Add(("visual.ln_post.bias", [Width], Fill(Width, 0)));
        tensors.Add(("visual.proj", [Width, 32], Noise(Width * 32)));
        using var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, [.. tensors.Select(t => SafeTensorsWriter.Tensor.F32(t.Item1, t.Item2, t.Item3))]);
        return Task.FromResult(stream.ToArray());
    }
}
