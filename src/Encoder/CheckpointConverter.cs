using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// Rewrites a checkpoint (a PyTorch <c>.pt</c> / <c>.pth</c> / <c>.bin</c>, a TorchScript archive, or safetensors) as
/// safetensors: every tensor under the name, shape and dtype it has (views become contiguous copies).
/// </summary>
public static class CheckpointConverter
{
    /// <summary>Converts the checkpoint <paramref name="input"/> names (a file or a folder holding one) into <paramref name="output"/>; returns the tensor count.</summary>
    /// <exception cref="ModelLoadException">The input cannot be read or the output cannot be written; the message says why.</exception>
    public static int Convert(string input, string output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelLoadException($"{output}: the output must be a .safetensors file; name it e.g. model.safetensors.");
        }

        var source = EncoderFactory.ResolveCheckpoint(input);
        if (string.Equals(Path.GetFullPath(source), Path.GetFullPath(output), StringComparison.Ordinal))
        {
            throw new ModelLoadException($"{output}: the output is the input checkpoint; write to another file.");
        }

        using var file = TensorFileOpener.Open(source);
        var tensors = file.Tensors.Keys.Order(StringComparer.Ordinal)
            .Select(name => new SafeTensorsWriter.Tensor(name, file.Tensors[name].DType, file.Tensors[name].Shape, file.ReadContiguousBytes(name)))
            .ToList();
        if (tensors.Count == 0)
        {
            throw new ModelLoadException($"{source}: the checkpoint holds no tensors; nothing to convert.");
        }

        try
        {
            SafeTensorsWriter.Write(output, tensors, new Dictionary<string, string> { ["format"] = "pt", ["converted_from"] = Path.GetFileName(source) });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"{output}: cannot write the safetensors file ({e.Message}); choose a writable path.", e);
        }

        return tensors.Count;
    }
}
