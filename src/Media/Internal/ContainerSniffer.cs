namespace TempMe.Pipeline.Media.Internal;

/// <summary>
/// Recognises the first bytes of common video containers. Used only when ffprobe fails, to tell a damaged video
/// (<c>corrupt</c>: e.g. an MP4 cut before its index) from something that never was one (<c>not_a_video</c>).
/// </summary>
internal static class ContainerSniffer
{
    /// <summary>True when <paramref name="head"/> starts like an MP4/MOV, Matroska/WebM, AVI, FLV, MPEG-TS/PS or Ogg file.</summary>
    public static bool LooksLikeVideoContainer(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 8 && head.Slice(4, 4) is var box
            && (box.SequenceEqual("ftyp"u8) || box.SequenceEqual("moov"u8) || box.SequenceEqual("mdat"u8)
                || box.SequenceEqual("wide"u8) || box.SequenceEqual("free"u8)))
        {
            return true;
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x1A, 0x45, 0xDF, 0xA3]) || head.StartsWith("FLV"u8) || head.StartsWith("OggS"u8)
            || head.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0x01, 0xBA]))
        {
            return true;
        }

        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head.Slice(8, 4).SequenceEqual("AVI "u8))
        {
            return true;
        }

        return head.Length > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47;
    }

    /// <summary>Reads up to 512 bytes of the file; empty when it cannot be read.</summary>
    public static byte[] ReadHead(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var head = new byte[512];
            var total = 0;
            int read;
            while (total < head.Length && (read = stream.Read(head, total, head.Length - total)) > 0)
            {
                total += read;
            }

            return head[..total];
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }
}
