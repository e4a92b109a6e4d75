using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder.Tests;

/// <summary>
/// Hostile and malformed model files (issue 11 items 4 and 9): sizes that overflow, offsets that lie, and files that are
/// not safetensors at all. Every one must end in a <see cref="ModelLoadException"/> whose message names the problem
/// without echoing the file's bytes.
/// </summary>
public sealed class CraftedModelFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tempme-crafted").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void A_shape_whose_element_count_overflows_is_refused_when_the_file_is_opened()
    {
        // 2^20 · 3 · 2^21 · 2^21 · 4 bytes wraps to 0 in 64-bit arithmetic, which matched data_offsets [0, 0].
        var path = Raw("overflow.safetensors", """{"a":{"dtype":"F32","shape":[1048576,3,2097152,2097152],"data_offsets":[0,0]}}""", []);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("'a'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("too large", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_checkpoint_with_an_overflowing_tensor_fails_with_a_model_load_error()
    {
        var tensors = CheckpointWith("visual.conv1.weight", new SafeTensorsWriter.Tensor("visual.conv1.weight", "F32", [1 << 20, 3, 1 << 21, 1 << 21], []));
        var path = Write("ckpt-overflow.safetensors", tensors);
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12, TinyReference.Options(), null));
        Assert.Contains("too large", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hugging_face_checkpoint_whose_width_overflows_the_attention_weights_fails_with_a_model_load_error()
    {
        // A width of 50000 passes every per-tensor check (each tensor below is small and really in the file), but
        // 3 · width² does not fit an int: the loader allocated with the wrapped (negative) count and threw OverflowException.
        const int width = 50000;
        var path = Write("hf-wide.safetensors",
        [
            SafeTensorsWriter.Tensor.F32("vision_model.embeddings.patch_embedding.weight", [width, 3, 1, 1], new float[width * 3]),
            SafeTensorsWriter.Tensor.F32("vision_model.embeddings.position_embedding.weight", [2, width], new float[2 * width]),
            SafeTensorsWriter.Tensor.F32("vision_model.embeddings.class_embedding", [width], new float[width]),
            SafeTensorsWriter.Tensor.F32("vision_model.encoder.layers.0.self_attn.q_proj.weight", [1], [0f]),
            SafeTensorsWriter.Tensor.F32("vision_model.encoder.layers.0.mlp.fc1.weight", [1, width], new float[width]),
            SafeTensorsWriter.Tensor.F32("visual_projection.weight", [1, width], new float[width]),
        ]);
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12, new EncoderOptions { VisionHeads = 1 }, null));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlapping_and_out_of_file_offsets_are_refused()
    {
        var data = new byte[16];
        var overlap = Raw("overlap.safetensors", """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", data);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(overlap));
        Assert.Contains("overlap", ex.Message, StringComparison.Ordinal);

        var beyond = Raw("beyond.safetensors", """{"a":{"dtype":"U8","shape":[7],"data_offsets":[9223372036854775800,9223372036854775807]}}""", data);
        Assert.IsType<ModelLoadException>(Record.Exception(() => SafeTensorsFile.Open(beyond)));

        var past = Raw("past.safetensors", """{"a":{"dtype":"U8","shape":[16],"data_offsets":[8,24]}}""", data);
        Assert.Contains("truncated", Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(past)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_text_file_given_as_a_model_is_refused_without_echoing_its_bytes()
    {
        // The first 8 bytes of /etc/shadow came back as "header length 3619…" (the bytes read as a little-endian number).
        const string secret = "ZEBRA-SECRET-hunter2:19000:0:99999:7:::\n";
        var path = Path.Combine(_dir, "shadow");
        File.WriteAllText(path, secret + secret);
        var bytes = File.ReadAllBytes(path);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("not a safetensors file", ex.Message, StringComparison.Ordinal);
        AssertNoFileBytes(ex.Message, bytes);

        // Same through the encoder factory, as `tempme index --model` and the worker call it.
        ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(path, 12));
        AssertNoFileBytes(ex.Message, bytes);
    }

    [Fact]
    public void A_header_that_is_not_json_is_refused_without_echoing_its_bytes()
    {
        var path = Raw("text-header.safetensors", "ZEBRA-SECRET-hunter2", []);
        var ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'Z'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ZEBRA", ex.Message, StringComparison.Ordinal);

        // A header length that points past the end of the file: the length is the file's bytes, so it is not shown.
        var bytes = new byte[8 + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 987654);
        var longHeader = Path.Combine(_dir, "long-header.safetensors");
        File.WriteAllBytes(longHeader, bytes);
        ex = Assert.Throws<ModelLoadException>(() => SafeTensorsFile.Open(longHeader));
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("987654", ex.Message, StringComparison.Ordinal);
    }

    private static void AssertNoFileBytes(string message, byte[] bytes)
    {
        var head = bytes.AsSpan(0, 8);
        Assert.DoesNotContain(BinaryPrimitives.ReadUInt64LittleEndian(head).ToString(CultureInfo.InvariantCulture), message, StringComparison.Ordinal);
        Assert.DoesNotContain(BinaryPrimitives.ReadUInt64BigEndian(head).ToString(CultureInfo.InvariantCulture), message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(head), message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Encoding.ASCII.GetString(head), message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", message, StringComparison.Ordinal);
    }

    private static List<SafeTensorsWriter.Tensor> CheckpointWith(string name, SafeTensorsWriter.Tensor replacement)
    {
        using var f = SafeTensorsFile.Open(TinyReference.WeightsPath("weights_lora_merged.safetensors"));
        return f.Tensors.Values.Where(e => !e.Name.Contains("LoRA", StringComparison.Ordinal))
            .Select(e => e.Name == name ? replacement : SafeTensorsWriter.Tensor.F32(e.Name, e.Shape, f.ReadFloat32(e.Name))).ToList();
    }

    private string Write(string name, IReadOnlyList<SafeTensorsWriter.Tensor> tensors)
    {
        var path = Path.Combine(_dir, name);
        SafeTensorsWriter.Write(path, tensors);
        return path;
    }

    /// <summary>A file with exactly this header text and data (no validation, unlike <see cref="SafeTensorsWriter"/>).</summary>
    private string Raw(string name, string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
