using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder;

/// <summary>Creates <see cref="IVideoEncoder"/> instances from a model spec.</summary>
public static class EncoderFactory
{
    /// <summary>The spec prefix for seeded random weights (<c>random:vit-b32</c>, <c>random:vit-b16</c>).</summary>
    public const string RandomPrefix = "random:";

    /// <summary>
    /// Creates a TempMe video encoder with the authors' default schedule for <paramref name="framesPerVideo"/> frames.
    /// <paramref name="modelSpec"/> is a folder holding one checkpoint, a <c>.safetensors</c> file, a PyTorch <c>.pt</c> /
    /// <c>.pth</c> / <c>.bin</c> file (zip <c>torch.save</c> or TorchScript),
    /// or <c>random:vit-b32</c> / <c>random:vit-b16</c>. One-time notices (BLAS backend, missing temporal embeddings,
    /// random weights) go to <paramref name="notices"/>.
    /// </summary>
    /// <exception cref="ModelLoadException">The spec, file, checkpoint or schedule cannot be used; the message says why.</exception>
    public static IVideoEncoder Create(string modelSpec, int framesPerVideo, TextWriter? notices = null)
        => Create(modelSpec, framesPerVideo, new EncoderOptions(), notices);

    /// <summary>Creates an encoder with explicit options (heads, schedule, text encoder).</summary>
    internal static TempMeVideoEncoder Create(string modelSpec, int framesPerVideo, EncoderOptions options, TextWriter? notices)
    {
        ArgumentNullException.ThrowIfNull(modelSpec);
        ArgumentNullException.ThrowIfNull(options);
        if (framesPerVideo <= 0)
        {
            throw new ModelLoadException($"frames per video must be positive (got {framesPerVideo}).");
        }

        try
        {
            ClipWeights weights;
            if (modelSpec.StartsWith(RandomPrefix, StringComparison.OrdinalIgnoreCase))
            {
                weights = RandomWeights.Create(modelSpec[RandomPrefix.Length..], framesPerVideo, options.Schedule, options.VisionHeads, options.LoadText, options.TextHeads);
                notices?.WriteLine($"notice: {weights.Source}: random weights: embeddings are meaningless (benchmarks and tests only).");
            }
            else
            {
                weights = CheckpointLoader.Load(ResolveCheckpoint(modelSpec), options.LoadText, options.VisionHeads, options.TextHeads, notices);
            }

            notices?.WriteLine($"notice: matrix products run on {NativeBlas.Description}.");
            return new TempMeVideoEncoder(weights, framesPerVideo, options, notices);
        }
        catch (OverflowException e)
        {
            // Every tensor was checked against the file, so only dimensions that combine into absurd sizes get here.
            throw new ModelLoadException($"{modelSpec}: the model's dimensions are too large to run with {framesPerVideo} frames per video (a corrupt or crafted checkpoint).", e);
        }
    }

    /// <summary>
    /// The checkpoint file a spec names: the file itself, or the one checkpoint in a folder: its single <c>*.safetensors</c>
    /// (<c>model.safetensors</c> among several), else its single <c>*.pt</c> / <c>*.pth</c> / <c>*.bin</c>
    /// (<c>pytorch_model.bin</c> among several).
    /// </summary>
    internal static string ResolveCheckpoint(string modelSpec)
    {
        if (File.Exists(modelSpec))
        {
            return modelSpec;
        }

        if (Directory.Exists(modelSpec))
        {
            var safetensors = Directory.GetFiles(modelSpec, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
            if (safetensors.Length > 0)
            {
                return Pick(modelSpec, safetensors, "model.safetensors", "*.safetensors");
            }

            var torch = Directory.GetFiles(modelSpec)
                .Where(f => TensorFileOpener.TorchExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal).ToArray();
            return torch.Length > 0
                ? Pick(modelSpec, torch, "pytorch_model.bin", "PyTorch checkpoint (.pt, .pth, .bin)")
                : throw new ModelLoadException($"{modelSpec}: no checkpoint in this folder (*.safetensors, *.pt, *.pth or *.bin); put one there or pass the file.");
        }

        throw new ModelLoadException($"{modelSpec}: model not found: give a folder holding a checkpoint, a .safetensors, .pt, .pth or .bin file, or random:vit-b32 / random:vit-b16.");
    }

    private static string Pick(string folder, string[] files, string preferred, string what) => files.Length == 1
        ? files[0]
        : files.FirstOrDefault(f => Path.GetFileName(f) == preferred)
          ?? throw new ModelLoadException($"{folder}: {files.Length} {what} files ({string.Join(", ", files.Select(Path.GetFileName))}); pass the one to use.");
}
