using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder.Tests;

public sealed class SafeTensorsAndCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tempme-st").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Truncated_file_is_rejected_naming_the_file()
    {
        var path = Write("t.safetensors", [SafeTensorsWriter.Tensor.F32("a", [4], [1, 2, 3, 4])]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);

        File.WriteAllBytes(path, bytes[..4]);
        Assert.Contains("truncated", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_header_is_rejected()
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        var header = Encoding.UTF8.GetBytes("{not json");
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("not valid JSON", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path)).Message, StringComparison.Ordinal);

        File.WriteAllBytes(path, Encoding.UTF8.GetBytes("GIF89a some image bytes"));
        Assert.Contains("not a safetensors file", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path)).Message, StringComparison.Ordinal);

        Assert.Contains("not found", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(Path.Combine(_dir, "none.safetensors"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_dtype_and_wrong_byte_count_are_rejected()
    {
        var path = Write("d.safetensors", [new SafeTensorsWriter.Tensor("a", "F7", [2], new byte[8])]);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("unknown dtype 'F7'", ex.Message, StringComparison.Ordinal);

        path = Write("n.safetensors", [new SafeTensorsWriter.Tensor("a", "F32", [3], new byte[8])]);
        Assert.Contains("needs 12 bytes", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void F16_and_BF16_load_as_float32()
    {
        float[] values = [1f, -2.5f, 0.1f, 65504f, 0f, -0.000061035156f];
        var halves = values.Select(v => (Half)v).ToArray();
        var bf = values.Select(v => (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)).ToArray();
        var path = Write("h.safetensors",
        [
            new("h", "F16", [2, 3], MemoryMarshal.AsBytes(halves.AsSpan()).ToArray()),
            new("b", "BF16", [6], MemoryMarshal.AsBytes(bf.AsSpan()).ToArray()),
            SafeTensorsWriter.Tensor.F32("f", [6], values),
        ]);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(halves.Select(h => (float)h).ToArray(), f.ReadFloat32("h"));
        Assert.Equal(bf.Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray(), f.ReadFloat32("b"));
        Assert.Equal(values, f.ReadFloat32("f"));
        Assert.Equal(1f, f.ReadFloat32("b")[0]);
        Assert.Equal(-2.5f, f.ReadFloat32("h")[1]);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        var tensors = TinyTensors().Where(t => t.Name != "visual.ln_post.weight").ToList();
        var path = Write("m.safetensors", tensors);
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12, TinyReference.Options(), null));
        Assert.Contains("missing tensor 'visual.ln_post.weight'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Contradicting_shape_is_named()
    {
        var tensors = TinyTensors().Select(t => t.Name == "visual.transformer.resblocks.2.ln_1.bias" ? SafeTensorsWriter.Tensor.F32(t.Name, [65], new float[65]) : t).ToList();
        var path = Write("s.safetensors", tensors);
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12, TinyReference.Options(), null));
        Assert.Contains("'visual.transformer.resblocks.2.ln_1.bias' has shape [65]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("contradicts", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_naming_scheme_is_rejected()
    {
        var path = Write("u.safetensors", [SafeTensorsWriter.Tensor.F32("encoder.conv.weight", [1], [1f])]);
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12));
        Assert.Contains("unknown naming scheme", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clip_prefix_and_hugging_face_names_give_the_same_embeddings()
    {
        var baseline = Embed(TinyReference.WeightsPath("weights_lora_merged.safetensors"), out var text0);

        var prefixed = Write("p.safetensors", TinyTensors().Select(t => t with { Name = "clip." + t.Name }).ToList());
        var e1 = Embed(prefixed, out var text1);
        Assert.Equal(baseline, e1);
        Assert.Equal(text0, text1);

        var hf = Write("hf.safetensors", ToHuggingFace(TinyTensors()));
        var notices = new StringWriter();
        var enc = EncoderFactory.Create(hf, 12, TinyReference.Options(), notices);
        Assert.Contains("no temporal embeddings", notices.ToString(), StringComparison.Ordinal);
        var e2 = new float[64];
        enc.EncodeVideos(TinyReference.Video, 2, e2);
        Assert.All(e2, v => Assert.False(float.IsNaN(v)));
        var t2 = new float[96];
        enc.EncodeTexts(TinyReference.TextIds, TinyReference.TextMask, 3, 32, t2);
        Assert.True(TinyParityTests.MaxAbs(text0, t2) < 1e-5f);

        // Same HF weights with the temporal embeddings put back give the OpenAI result.
        var hfTemporal = ToHuggingFace(TinyTensors(), keepTemporal: true);
        var e3 = Embed(Write("hf2.safetensors", hfTemporal), out _);
        Assert.True(TinyParityTests.MaxAbs(baseline, e3) < 1e-5f);
    }

    [Fact]
    public void Fingerprint_is_stable_and_depends_on_weights_and_schedule()
    {
        var a = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 12, TinyReference.Options(), null).Fingerprint;
        var b = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 12, TinyReference.Options(), null).Fingerprint;
        var c = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 12, TinyReference.Options(merge: false), null).Fingerprint;
        var d = EncoderFactory.Create(TinyReference.WeightsPath("weights_lora_merged.safetensors"), 12, TinyReference.Options(), null).Fingerprint;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, d);
        Assert.StartsWith("sha256:", a, StringComparison.Ordinal);
    }

    [Fact]
    public void Folder_spec_finds_the_checkpoint_and_missing_spec_is_clear()
    {
        var sub = Directory.CreateDirectory(Path.Combine(_dir, "model")).FullName;
        File.Copy(TinyReference.WeightsPath("weights.safetensors"), Path.Combine(sub, "tempme.safetensors"));
        Assert.Equal(Path.Combine(sub, "tempme.safetensors"), EncoderFactory.ResolveCheckpoint(sub));
        Assert.Contains("model not found", Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(Path.Combine(_dir, "nope"), 12)).Message, StringComparison.Ordinal);
        Assert.Contains("no checkpoint in this folder", Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(_dir, 12)).Message, StringComparison.Ordinal);
    }

    private static float[] Embed(string path, out float[] text)
    {
        var enc = EncoderFactory.Create(path, 12, TinyReference.Options(), null);
        var e = new float[64];
        enc.EncodeVideos(TinyReference.Video, 2, e);
        text = new float[96];
        enc.EncodeTexts(TinyReference.TextIds, TinyReference.TextMask, 3, 32, text);
        return e;
    }

    private static List<SafeTensorsWriter.Tensor> TinyTensors()
    {
        using var f = SafeTensorsFile.Open(TinyReference.WeightsPath("weights_lora_merged.safetensors"));
        return f.Tensors.Values.Where(e => !e.Name.Contains("LoRA", StringComparison.Ordinal))
            .Select(e => SafeTensorsWriter.Tensor.F32(e.Name, e.Shape, f.ReadFloat32(e.Name))).ToList();
    }

    private static List<SafeTensorsWriter.Tensor> ToHuggingFace(List<SafeTensorsWriter.Tensor> tensors, bool keepTemporal = false)
    {
        var result = new List<SafeTensorsWriter.Tensor>();
        foreach (var t in tensors)
        {
            var n = t.Name;
            var values = MemoryMarshal.Cast<byte, float>(t.Data).ToArray();
            if (n.Contains("TVPt_Video_Positional_embedding", StringComparison.Ordinal))
            {
                if (keepTemporal)
                {
                    result.Add(t with { Name = n.Replace("visual.transformer.resblocks.", "vision_model.encoder.layers.", StringComparison.Ordinal) });
                }

                continue;
            }

            var vis = n.StartsWith("visual.", StringComparison.Ordinal);
            var block = vis ? "vision_model.encoder.layers." : "text_model.encoder.layers.";
            var rb = vis ? "visual.transformer.resblocks." : "transformer.resblocks.";
            if (n.StartsWith(rb, StringComparison.Ordinal))
            {
                var rest = n[rb.Length..];
                var layer = rest[..rest.IndexOf('.', StringComparison.Ordinal)];
                var leaf = rest[(layer.Length + 1)..];
                var p = block + layer + ".";
                var width = t.Shape[^1];
                switch (leaf)
                {
                    case "attn.in_proj_weight":
                    case "attn.in_proj_bias":
                    {
                        var w = leaf.EndsWith("weight", StringComparison.Ordinal) ? t.Shape[1] : 1;
                        var d = t.Shape[0] / 3;
                        string[] names = ["q_proj", "k_proj", "v_proj"];
                        for (var i = 0; i < 3; i++)
                        {
                            var part = values.AsSpan(i * d * w, d * w);
                            result.Add(SafeTensorsWriter.Tensor.F32($"{p}self_attn.{names[i]}.{(w == 1 ? "bias" : "weight")}", w == 1 ? [d] : [d, w], part));
                        }

                        continue;
                    }

                    default:
                        var mapped = leaf.Replace("attn.out_proj", "self_attn.out_proj", StringComparison.Ordinal)
                            .Replace("ln_1", "layer_norm1", StringComparison.Ordinal).Replace("ln_2", "layer_norm2", StringComparison.Ordinal)
                            .Replace("mlp.c_fc", "mlp.fc1", StringComparison.Ordinal).Replace("mlp.c_proj", "mlp.fc2", StringComparison.Ordinal);
                        result.Add(t with { Name = p + mapped });
                        _ = width;
                        continue;
                }
            }

            string? name = n switch
            {
                "visual.conv1.weight" => "vision_model.embeddings.patch_embedding.weight",
                "visual.class_embedding" => "vision_model.embeddings.class_embedding",
                "visual.positional_embedding" => "vision_model.embeddings.position_embedding.weight",
                "visual.ln_pre.weight" => "vision_model.pre_layrnorm.weight",
                "visual.ln_pre.bias" => "vision_model.pre_layrnorm.bias",
                "visual.ln_post.weight" => "vision_model.post_layernorm.weight",
                "visual.ln_post.bias" => "vision_model.post_layernorm.bias",
                "token_embedding.weight" => "text_model.embeddings.token_embedding.weight",
                "positional_embedding" => "text_model.embeddings.position_embedding.weight",
                "ln_final.weight" => "text_model.final_layer_norm.weight",
                "ln_final.bias" => "text_model.final_layer_norm.bias",
                "logit_scale" => "logit_scale",
                _ => null,
            };
            if (name is not null)
            {
                result.Add(t with { Name = name });
            }
            else if (n is "visual.proj" or "text_projection")
            {
                var (r, c) = (t.Shape[0], t.Shape[1]);
                var tr = new float[values.Length];
                for (var i = 0; i < r; i++)
                {
                    for (var j = 0; j < c; j++)
                    {
                        tr[(j * r) + i] = values[(i * c) + j];
                    }
                }

                result.Add(SafeTensorsWriter.Tensor.F32(n == "visual.proj" ? "visual_projection.weight" : "text_projection.weight", [c, r], tr));
            }
        }

        return result;
    }

    private string Write(string name, IReadOnlyList<SafeTensorsWriter.Tensor> tensors)
    {
        var path = Path.Combine(_dir, name);
        SafeTensorsWriter.Write(path, tensors);
        return path;
    }
}
