using System.Text.Json;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Encoder.Tests;

public sealed class ClipTokenizerTests
{
    private static readonly Lazy<ClipTokenizer> Tokenizer = new(() => ClipTokenizer.Load(Path.Combine(RepoPaths.Shared, "reference", "clip-bpe")));

    [Fact]
    public void Reference_captions_give_the_authors_ids_and_tokens()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.TinyReference, "inputs.json")));
        var captions = doc.RootElement.GetProperty("captions").EnumerateArray().Select(c => c.GetString()!).ToArray();
        var ids = doc.RootElement.GetProperty("text_ids").EnumerateArray().ToArray();
        var masks = doc.RootElement.GetProperty("text_mask").EnumerateArray().ToArray();
        var tokens = doc.RootElement.GetProperty("bpe_tokens").EnumerateArray().ToArray();
        Assert.Equal(3, captions.Length);
        for (var i = 0; i < captions.Length; i++)
        {
            var (got, mask) = Tokenizer.Value.Tokenize(captions[i]);
            Assert.Equal(ids[i].EnumerateArray().Select(v => v.GetInt64()).ToArray(), got);
            Assert.Equal(masks[i].EnumerateArray().Select(v => v.GetInt64()).ToArray(), mask);
            var strings = tokens[i].EnumerateArray().Select(v => v.GetString()!).ToArray();
            Assert.Equal(strings[1..^1], Tokenizer.Value.EncodeToStrings(captions[i]));
        }
    }

    [Fact]
    public void Special_ids_follow_the_vocabulary()
    {
        Assert.Equal(49406, Tokenizer.Value.SotId);
        Assert.Equal(49407, Tokenizer.Value.EotId);
    }

    [Theory]
    [InlineData("Hello, World!", new[] { "hello</w>", ",</w>", "world</w>", "!</w>" })]
    [InlineData("don't stop", new[] { "don</w>", "'t</w>", "stop</w>" })]
    [InlineData("it's 2024", new[] { "it</w>", "'s</w>", "2</w>", "0</w>", "2</w>", "4</w>" })]
    [InlineData("  A   DOG \n runs  ", new[] { "a</w>", "dog</w>", "runs</w>" })]
    [InlineData("fish &amp; chips", new[] { "fish</w>", "&</w>", "chips</w>" })]
    [InlineData("...?!", new[] { "...?!</w>" })]
    public void Pre_tokenisation_cleanup_and_bpe(string text, string[] expected)
    {
        var got = Tokenizer.Value.EncodeToStrings(text);
        if (text == "...?!")
        {
            // Punctuation runs stay one pre-token; BPE may split it further, but it must round-trip.
            Assert.Equal("...?!</w>", string.Concat(got));
            return;
        }

        Assert.Equal(expected, got);
    }

    [Fact]
    public void Unicode_is_byte_encoded_and_round_trips()
    {
        var strings = Tokenizer.Value.EncodeToStrings("café 東京 😀");
        Assert.NotEmpty(strings);
        var ids = Tokenizer.Value.Encode("café 東京 😀");
        Assert.Equal(strings.Count, ids.Count);
        Assert.All(ids, id => Assert.InRange(id, 0, 49405));
        Assert.Equal("café</w>", Decode(strings.Take(strings.FindIndex(s => s.EndsWith("</w>", StringComparison.Ordinal)) + 1)));
    }

    [Fact]
    public void Over_long_captions_are_cut_to_32_keeping_eot()
    {
        var caption = string.Join(' ', Enumerable.Repeat("dog", 100));
        var (ids, mask) = Tokenizer.Value.Tokenize(caption);
        Assert.Equal(32, ids.Length);
        Assert.Equal(49406, ids[0]);
        Assert.Equal(49407, ids[31]);
        Assert.All(mask, m => Assert.Equal(1, m));
        Assert.Equal(30, ids.Count(id => id == Tokenizer.Value.Encode("dog")[0]));
    }

    [Fact]
    public void Empty_caption_is_sot_eot()
    {
        var (ids, mask) = Tokenizer.Value.Tokenize("   ");
        Assert.Equal([49406, 49407], ids[..2]);
        Assert.Equal(2, mask.Sum());
    }

    [Fact]
    public void Hugging_face_vocab_json_and_merges_give_the_same_ids()
    {
        var dir = Directory.CreateTempSubdirectory("tempme-hfvocab").FullName;
        try
        {
            // Write a tiny HF-style vocabulary: bytes, bytes</w>, a few merges.
            var open = Tokenizer.Value;
            var words = new[] { "a man is playing a guitar", "cooking" };
            var pieces = words.SelectMany(open.EncodeToStrings).Distinct().ToList();
            var vocab = new Dictionary<string, int>();
            foreach (var p in pieces)
            {
                vocab[p] = open.Encode(p.Replace("</w>", string.Empty, StringComparison.Ordinal))[0];
            }

            vocab["<|startoftext|>"] = 49406;
            vocab["<|endoftext|>"] = 49407;
            File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
            var merges = GzMerges().Take(48894).ToList();
            File.WriteAllLines(Path.Combine(dir, "merges.txt"), ["#version: 0.2", .. merges]);
            var hf = ClipTokenizer.Load(dir);
            Assert.Equal(open.Tokenize("a man is playing a guitar").Ids, hf.Tokenize("a man is playing a guitar").Ids);
            Assert.Equal(open.Tokenize("cooking").Ids, hf.Tokenize("cooking").Ids);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Missing_vocabulary_is_a_model_load_error()
    {
        var dir = Directory.CreateTempSubdirectory("tempme-novocab").FullName;
        try
        {
            var ex = Assert.Throws<ModelLoadException>(() => ClipTokenizer.Load(dir));
            Assert.Contains("bpe_simple_vocab_16e6.txt.gz", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static IEnumerable<string> GzMerges()
    {
        using var fs = File.OpenRead(Path.Combine(RepoPaths.Shared, "reference", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz"));
        using var gz = new System.IO.Compression.GZipStream(fs, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return reader.ReadToEnd().Split('\n').Skip(1).ToList();
    }

    private static string Decode(IEnumerable<string> pieces)
    {
        // Reverse CLIP's byte→unicode map for the test.
        var map = new Dictionary<char, byte>();
        var bs = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        foreach (var b in bs)
        {
            map[(char)b] = (byte)b;
        }

        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!bs.Contains(b))
            {
                map[(char)(256 + n++)] = (byte)b;
            }
        }

        var text = string.Concat(pieces);
        var end = text.EndsWith("</w>", StringComparison.Ordinal);
        text = text.Replace("</w>", string.Empty, StringComparison.Ordinal);
        return System.Text.Encoding.UTF8.GetString(text.Select(c => map[c]).ToArray()) + (end ? "</w>" : string.Empty);
    }
}
