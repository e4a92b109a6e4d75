using System.Buffers.Binary;
using System.Text;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// Bad model files given to the built <c>tempme</c> (issue 11 items 9 and 15): a crafted checkpoint whose sizes overflow,
/// and a FIFO, which blocked the process forever (deaf to SIGTERM). Each must end with exit 2 and one clear error line.
/// </summary>
public sealed class HostileModelCliTests : IDisposable
{
    // A hang guard, not a timing assertion: a blocked open() never returns, a refusal takes a second or two.
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(90);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-hostile-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Index_with_a_checkpoint_whose_sizes_overflow_exits_2_without_a_stack_trace()
    {
        // Every tensor is small and really in the file, but 3 · width² (the attention weights) does not fit an int:
        // the run died with an unhandled OverflowException and a stack trace. 50048 = 64 · 782: the default heads divide it.
        const int width = 50048;
        var model = WriteSafetensors(Path.Combine(_root, "wide.safetensors"),
            ("vision_model.embeddings.patch_embedding.weight", [width, 3, 1, 1]),
            ("vision_model.embeddings.position_embedding.weight", [2, width]),
            ("vision_model.embeddings.class_embedding", [width]),
            ("vision_model.encoder.layers.0.self_attn.q_proj.weight", [1]),
            ("vision_model.encoder.layers.0.mlp.fc1.weight", [1, width]),
            ("visual_projection.weight", [1, width]));
        var (code, _, stderr) = await RunIndexAsync(model);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("wide.safetensors", stderr, StringComparison.Ordinal);

        var tooLarge = WriteRaw(Path.Combine(_root, "overflow.safetensors"), """{"a":{"dtype":"F32","shape":[1048576,3,2097152,2097152],"data_offsets":[0,0]}}""");
        (code, _, stderr) = await RunIndexAsync(tooLarge);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("too large", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fifo_given_as_the_model_is_refused_at_once()
    {
        var fifo = Path.Combine(_root, "model.fifo");
        TestVideos.Run("mkfifo", fifo);
        var (code, _, stderr) = await RunIndexAsync(fifo);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);

        // A folder whose checkpoint is a FIFO, and a link to the FIFO, are refused the same way.
        var folder = Directory.CreateDirectory(Path.Combine(_root, "model-dir")).FullName;
        TestVideos.Run("mkfifo", Path.Combine(folder, "model.safetensors"));
        (code, _, stderr) = await RunIndexAsync(folder);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);

        var link = Path.Combine(_root, "link.safetensors");
        File.CreateSymbolicLink(link, fifo);
        (code, _, stderr) = await RunIndexAsync(link);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_tensor_refuses_a_fifo_as_weights_or_input()
    {
        var fifo = Path.Combine(_root, "weights.fifo");
        TestVideos.Run("mkfifo", fifo);
        var inputs = Path.Combine(RepoPaths.TinyReference, "inputs.safetensors");
        var weights = Path.Combine(RepoPaths.TinyReference, "weights.safetensors");
        var output = Path.Combine(_root, "out.safetensors");

        var (code, _, stderr) = await TempmeCli.RunAsync(HangGuard, "embed-tensor", "--weights", fifo, "--input", inputs, "--output", output);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await TempmeCli.RunAsync(HangGuard, "embed-tensor", "--weights", weights, "--input", fifo, "--output", output);
        AssertCleanUsageError(code, stderr);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunIndexAsync(string model)
    {
        var videos = Directory.CreateDirectory(Path.Combine(_root, "videos")).FullName;
        return TempmeCli.RunAsync(HangGuard, "index", videos, "--out", Path.Combine(_root, "out"), "--model", model);
    }

    private static void AssertCleanUsageError(int code, string stderr)
    {
        Assert.True(code == 2, $"exit {code}; stderr: {stderr}");
        Assert.Contains("error:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    /// <summary>Writes F32 zero tensors of these shapes, following the format (8-byte length, JSON header, raw data).</summary>
    private static string WriteSafetensors(string path, params (string Name, int[] Shape)[] tensors)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            var bytes = 4L * shape.Aggregate(1L, (a, b) => a * b);
            header.Append(header.Length > 1 ? "," : "").Append('"').Append(name).Append("\":{\"dtype\":\"F32\",\"shape\":[")
                .Append(string.Join(",", shape)).Append("],\"data_offsets\":[").Append(offset).Append(',').Append(offset + bytes).Append("]}");
            offset += bytes;
        }

        header.Append('}');
        var h = Encoding.UTF8.GetBytes(header.ToString());
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)h.Length);
        file.Write(length);
        file.Write(h);
        file.SetLength(8 + h.Length + offset);
        return path;
    }

    private static string WriteRaw(string path, string header)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
