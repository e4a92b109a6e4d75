using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace TempMe.Pipeline.Media.Tests;

/// <summary>
/// Writes an AVI holding one PNG frame (fourcc <c>MPNG</c>) of a single grey level. A flat 8-bit grey PNG deflates
/// about 1000:1, so a frame of hundreds of megapixels is a few hundred kB on disk: a decompression bomb. The AVI headers
/// state their own frame size, which may differ from the PNG's, so a container can lie about its stream. Written by hand
/// because ffmpeg refuses to make frames this large (and would need gigabytes to try).
/// </summary>
internal static class PngAvi
{
    /// <summary>The AVI bytes: one <paramref name="width"/>x<paramref name="height"/> frame, headers saying <paramref name="statedWidth"/>x<paramref name="statedHeight"/>.</summary>
    public static byte[] Create(int width, int height, int statedWidth, int statedHeight)
    {
        var png = Png(width, height);
        using var avi = new MemoryStream();
        var riff = BeginChunk(avi, "RIFF");
        avi.Write("AVI "u8);
        var hdrl = BeginList(avi, "hdrl");
        WriteChunk(avi, "avih", Pack(
            1_000_000, 0, 0, 0x10 /* AVIF_HASINDEX */, 1, 0, 1, png.Length, statedWidth, statedHeight, 0, 0, 0, 0));
        var strl = BeginList(avi, "strl");
        using (var strh = new MemoryStream())
        {
            strh.Write("vidsMPNG"u8);
            // flags, priority+language, initial frames, scale, rate (1 fps), start, length, buffer, quality, sample size.
            strh.Write(Pack(0, 0, 0, 1, 1, 0, 1, png.Length, -1, 0));
            strh.Write(PackShorts(0, 0, (short)statedWidth, (short)statedHeight));
            WriteChunk(avi, "strh", strh.ToArray());
        }

        using (var strf = new MemoryStream())
        {
            // BITMAPINFOHEADER: size, width, height, planes 1 + bit count 24, compression, image size, 4 × 0.
            strf.Write(Pack(40, statedWidth, statedHeight, 1 | (24 << 16)));
            strf.Write("MPNG"u8);
            strf.Write(Pack(statedWidth * statedHeight * 3, 0, 0, 0, 0));
            WriteChunk(avi, "strf", strf.ToArray());
        }

        EndChunk(avi, strl);
        EndChunk(avi, hdrl);
        var movi = BeginList(avi, "movi");
        WriteChunk(avi, "00dc", png);
        EndChunk(avi, movi);
        using (var index = new MemoryStream())
        {
            // One key frame, at offset 4 from the "movi" fourcc.
            index.Write("00dc"u8);
            index.Write(Pack(0x10, 4, png.Length));
            WriteChunk(avi, "idx1", index.ToArray());
        }

        EndChunk(avi, riff);
        return avi.ToArray();
    }

    /// <summary>An 8-bit greyscale PNG, every pixel 128.</summary>
    private static byte[] Png(int width, int height)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var row = new byte[width + 1]; // filter byte 0 (none), then the pixels
            row.AsSpan(1).Fill(128);
            for (var y = 0; y < height; y++)
            {
                zlib.Write(row);
            }
        }

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth; colour type 0 (grey), deflate, adaptive filtering, no interlace
        WritePngChunk(png, "IHDR", header);
        WritePngChunk(png, "IDAT", compressed.ToArray());
        WritePngChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WritePngChunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        png.Write(typeBytes);
        png.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32([.. typeBytes, .. data]));
        png.Write(word);
    }

    /// <summary>The CRC-32 that PNG chunks carry (ISO 3309, reflected, polynomial 0xEDB88320).</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }

    private static byte[] Pack(params int[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }

    private static byte[] PackShorts(params short[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        }

        return bytes;
    }

    private static void WriteChunk(Stream stream, string fourcc, byte[] data)
    {
        var start = BeginChunk(stream, fourcc);
        stream.Write(data);
        EndChunk(stream, start);
    }

    private static long BeginList(Stream stream, string type)
    {
        var start = BeginChunk(stream, "LIST");
        stream.Write(Encoding.ASCII.GetBytes(type));
        return start;
    }

    /// <summary>Writes the fourcc and a size placeholder; returns where the size goes.</summary>
    private static long BeginChunk(Stream stream, string fourcc)
    {
        stream.Write(Encoding.ASCII.GetBytes(fourcc));
        var at = stream.Position;
        stream.Write([0, 0, 0, 0]);
        return at;
    }

    /// <summary>Fills in the size and pads to an even length, as RIFF wants.</summary>
    private static void EndChunk(Stream stream, long sizeAt)
    {
        var end = stream.Position;
        var size = (int)(end - sizeAt - 4);
        stream.Position = sizeAt;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, size);
        stream.Write(word);
        stream.Position = end;
        if (size % 2 != 0)
        {
            stream.WriteByte(0);
        }
    }
}
