using TempMe.Pipeline.Encoder.Internal.Checkpoints;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// Opens a checkpoint by what its first bytes say: a zip (<c>PK\x03\x04</c>: <c>torch.save</c> or TorchScript), the
/// legacy pre-1.6 <c>torch.save</c> format (refused with how to re-save it), otherwise safetensors. A
/// <c>.safetensors</c> file is always read as safetensors.
/// </summary>
internal static class TensorFileOpener
{
    /// <summary>The extensions of PyTorch checkpoints.</summary>
    public static readonly string[] TorchExtensions = [".pt", ".pth", ".bin"];

    // A legacy torch.save file starts with the pickled magic number 0x1950a86a20f9469cfc6c: PROTO n, LONG1 10 bytes.
    private static readonly byte[] LegacyMagic = [0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19];

    /// <summary>Opens <paramref name="path"/>; throws <see cref="ModelLoadException"/> naming the file and the problem.</summary>
    public static ITensorFile Open(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || !File.Exists(path) || FileKind.DescribeIfNotRegular(path) is not null)
        {
            // SafeTensorsFile.Open reports missing and special files.
            return SafeTensorsFile.Open(path);
        }

        var head = new byte[14];
        int read;
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            read = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }

        if (read >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4)
        {
            return TorchZipCheckpoint.Open(path);
        }

        if (read == head.Length && head[0] == 0x80 && head.AsSpan(2).SequenceEqual(LegacyMagic))
        {
            throw new ModelLoadException(
                $"{path}: a legacy (PyTorch before 1.6, non-zip) torch.save file, which is not read; re-save it in the zip format: " +
                $"python3 -c \"import torch; torch.save(torch.load('{System.IO.Path.GetFileName(path)}', map_location='cpu'), 'model.pt')\" " +
                "(any PyTorch from 1.6 on writes zip), then pass model.pt or convert it with tempme convert-checkpoint.");
        }

        if (TorchExtensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ModelLoadException($"{path}: not a PyTorch checkpoint: a .pt/.pth/.bin file from torch.save or torch.jit.save is a zip archive (starts with 'PK'); this file is not. A truncated download or another format?");
        }

        return SafeTensorsFile.Open(path);
    }
}
