using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// CLIP's byte-level BPE tokenizer: html-unescape, whitespace cleanup, lowercase, CLIP's pre-tokenisation regex, BPE with
/// <c>&lt;/w&gt;</c> word ends. Vocabulary from OpenAI's <c>bpe_simple_vocab_16e6.txt.gz</c> or Hugging Face
/// <c>vocab.json</c> + <c>merges.txt</c>. Ids are <c>[SOT] + bpe</c> cut to <c>maxWords − 1</c>, then EOT, zero-padded.
/// </summary>
internal sealed partial class ClipTokenizer
{
    /// <summary>Start-of-text id.</summary>
    public const int StartOfText = 49406;

    /// <summary>End-of-text id.</summary>
    public const int EndOfText = 49407;

    /// <summary>OpenAI's vocabulary file name.</summary>
    public const string OpenAiVocabFile = "bpe_simple_vocab_16e6.txt.gz";

    private readonly Dictionary<string, int> _encoder;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly string[] _byteEncoder;
    private readonly Dictionary<string, string[]> _cache = new(StringComparer.Ordinal);
    private readonly Lock _cacheLock = new();

    private ClipTokenizer(Dictionary<string, int> encoder, Dictionary<(string, string), int> ranks, string source)
    {
        _encoder = encoder;
        _ranks = ranks;
        Source = source;
        _byteEncoder = BytesToUnicode();
        SotId = encoder.TryGetValue("<|startoftext|>", out var sot) ? sot : StartOfText;
        EotId = encoder.TryGetValue("<|endoftext|>", out var eot) ? eot : EndOfText;
    }

    /// <summary>Where the vocabulary came from.</summary>
    public string Source { get; }

    /// <summary>The start-of-text id of this vocabulary.</summary>
    public int SotId { get; }

    /// <summary>The end-of-text id of this vocabulary.</summary>
    public int EotId { get; }

    /// <summary>
    /// Loads from a folder (holding <c>bpe_simple_vocab_16e6.txt.gz</c>, or <c>vocab.json</c> + <c>merges.txt</c>) or from one of
    /// those files. Throws <see cref="ModelLoadException"/> naming what is missing.
    /// </summary>
    public static ClipTokenizer Load(string path)
    {
        string? gz = null, vocabJson = null, merges = null;
        if (Directory.Exists(path))
        {
            var g = Path.Combine(path, OpenAiVocabFile);
            gz = File.Exists(g) ? g : Directory.EnumerateFiles(path, "*.txt.gz").Order(StringComparer.Ordinal).FirstOrDefault();
            vocabJson = File.Exists(Path.Combine(path, "vocab.json")) ? Path.Combine(path, "vocab.json") : null;
            merges = File.Exists(Path.Combine(path, "merges.txt")) ? Path.Combine(path, "merges.txt") : null;
        }
        else if (File.Exists(path))
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                gz = path;
            }
            else if (Path.GetFileName(path) is "vocab.json" or "merges.txt")
            {
                vocabJson = Path.Combine(dir, "vocab.json");
                merges = Path.Combine(dir, "merges.txt");
            }
        }
        else
        {
            throw new ModelLoadException($"{path}: vocabulary not found (give a folder or file holding {OpenAiVocabFile}, or vocab.json + merges.txt).");
        }

        if (gz is not null)
        {
            return FromOpenAi(gz);
        }

        if (vocabJson is not null && merges is not null && File.Exists(vocabJson) && File.Exists(merges))
        {
            return FromHuggingFace(vocabJson, merges);
        }

        throw new ModelLoadException($"{path}: no CLIP vocabulary: expected {OpenAiVocabFile} (OpenAI) or vocab.json + merges.txt (Hugging Face).");
    }

    /// <summary>Finds a vocabulary beside a checkpoint, or null.</summary>
    public static ClipTokenizer? TryLoadBeside(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return null;
        }

        var hasGz = File.Exists(Path.Combine(folder, OpenAiVocabFile)) || Directory.EnumerateFiles(folder, "*.txt.gz").Any();
        var hasHf = File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt"));
        return hasGz || hasHf ? Load(folder) : null;
    }

    /// <summary>Reads OpenAI's gzipped merge list.</summary>
    public static ClipTokenizer FromOpenAi(string gzPath)
    {
        RequireRegularFile(gzPath);
        string[] lines;
        try
        {
            using var fs = File.OpenRead(gzPath);
            using var gz = new GZipStream(fs, CompressionMode.Decompress);
            using var reader = new StreamReader(gz, Encoding.UTF8);
            lines = reader.ReadToEnd().Split('\n');
        }
        catch (InvalidDataException ex)
        {
            throw new ModelLoadException($"{gzPath}: not a gzip file ({ex.Message}).", ex);
        }

        const int MergeCount = 49152 - 256 - 2;
        if (lines.Length < MergeCount + 1)
        {
            throw new ModelLoadException($"{gzPath}: truncated vocabulary: {lines.Length - 1} merge lines, expected {MergeCount}.");
        }

        var byteChars = BytesToUnicodeInOrder();
        var vocab = new List<string>(49408);
        vocab.AddRange(byteChars);
        vocab.AddRange(byteChars.Select(c => c + "</w>"));
        var ranks = new Dictionary<(string, string), int>(MergeCount);
        for (var i = 0; i < MergeCount; i++)
        {
            var parts = lines[i + 1].Split(' ');
            if (parts.Length != 2)
            {
                throw new ModelLoadException($"{gzPath}: line {i + 2} is not a merge 'a b' (two tokens separated by one space).");
            }

            ranks[(parts[0], parts[1])] = i;
            vocab.Add(parts[0] + parts[1]);
        }

        vocab.Add("<|startoftext|>");
        vocab.Add("<|endoftext|>");
        var encoder = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        for (var i = 0; i < vocab.Count; i++)
        {
            encoder[vocab[i]] = i;
        }

        return new ClipTokenizer(encoder, ranks, gzPath);
    }

    /// <summary>Reads a Hugging Face vocab.json + merges.txt pair.</summary>
    public static ClipTokenizer FromHuggingFace(string vocabJson, string mergesTxt)
    {
        RequireRegularFile(vocabJson);
        RequireRegularFile(mergesTxt);
        Dictionary<string, int> encoder;
        try
        {
            encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabJson)) ?? [];
        }
        catch (JsonException ex)
        {
            // The parser's message quotes the file's text: the position is enough.
            throw new ModelLoadException($"{vocabJson}: not a JSON token→id map (line {(ex.LineNumber ?? 0) + 1}).", ex);
        }

        var ranks = new Dictionary<(string, string), int>();
        var rank = 0;
        foreach (var line in File.ReadLines(mergesTxt))
        {
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0)
            {
                continue;
            }

            var parts = line.Split(' ');
            if (parts.Length == 2)
            {
                ranks.TryAdd((parts[0], parts[1]), rank++);
            }
        }

        return new ClipTokenizer(encoder, ranks, $"{vocabJson} + {mergesTxt}");
    }

    /// <summary>CLIP's text cleanup: html-unescape (twice), collapse whitespace, trim, lowercase.</summary>
    public static string Clean(string text)
    {
        var t = WebUtility.HtmlDecode(WebUtility.HtmlDecode(text)).Trim();
        return WhitespaceRegex().Replace(t, " ").Trim().ToLowerInvariant();
    }

    /// <summary>The BPE ids of <paramref name="text"/> without SOT/EOT.</summary>
    public List<int> Encode(string text)
    {
        var result = new List<int>();
        foreach (Match m in PreTokenizer().Matches(Clean(text)))
        {
            var sb = new StringBuilder();
            foreach (var b in Encoding.UTF8.GetBytes(m.Value))
            {
                sb.Append(_byteEncoder[b]);
            }

            foreach (var piece in Bpe(sb.ToString()))
            {
                if (_encoder.TryGetValue(piece, out var id))
                {
                    result.Add(id);
                }
            }
        }

        return result;
    }

    /// <summary>The BPE token strings of <paramref name="text"/> (for tests and diagnostics).</summary>
    public List<string> EncodeToStrings(string text)
    {
        var result = new List<string>();
        foreach (Match m in PreTokenizer().Matches(Clean(text)))
        {
            var sb = new StringBuilder();
            foreach (var b in Encoding.UTF8.GetBytes(m.Value))
            {
                sb.Append(_byteEncoder[b]);
            }

            result.AddRange(Bpe(sb.ToString()));
        }

        return result;
    }

    /// <summary><c>[SOT] + bpe</c> cut to <paramref name="maxWords"/> − 1 entries, then EOT, zero-padded; mask 1 on real tokens.</summary>
    public (long[] Ids, long[] Mask) Tokenize(string text, int maxWords = 32)
    {
        if (maxWords < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxWords), "maxWords must be at least 2 (SOT and EOT)");
        }

        var tokens = new List<int> { SotId };
        tokens.AddRange(Encode(text));
        if (tokens.Count > maxWords - 1)
        {
            tokens.RemoveRange(maxWords - 1, tokens.Count - (maxWords - 1));
        }

        tokens.Add(EotId);
        var ids = new long[maxWords];
        var mask = new long[maxWords];
        for (var i = 0; i < tokens.Count; i++)
        {
            ids[i] = tokens[i];
            mask[i] = 1;
        }

        return (ids, mask);
    }

    private string[] Bpe(string token)
    {
        lock (_cacheLock)
        {
            if (_cache.TryGetValue(token, out var cached))
            {
                return cached;
            }
        }

        if (token is "<|startoftext|>" or "<|endoftext|>")
        {
            return [token];
        }

        var word = InitialSymbols(token);
        while (word.Count > 1 && LowestRankedPair(word) is { } best)
        {
            word = MergePair(word, best);
        }

        var result = word.ToArray();
        lock (_cacheLock)
        {
            _cache[token] = result;
        }

        return result;
    }

    /// <summary>The token's characters, the last one marked as a word end (<c>&lt;/w&gt;</c>).</summary>
    private static List<string> InitialSymbols(string token)
    {
        var word = new List<string>(token.Length);
        var chars = StringInfoElements(token);
        for (var i = 0; i < chars.Count - 1; i++)
        {
            word.Add(chars[i]);
        }

        word.Add(chars[^1] + "</w>");
        return word;
    }

    /// <summary>The adjacent pair with the lowest merge rank (the first such pair on ties); null when no pair has a rank.</summary>
    private (string First, string Second)? LowestRankedPair(List<string> word)
    {
        var bestRank = int.MaxValue;
        (string, string)? best = null;
        for (var i = 0; i < word.Count - 1; i++)
        {
            if (_ranks.TryGetValue((word[i], word[i + 1]), out var r) && r < bestRank)
            {
                bestRank = r;
                best = (word[i], word[i + 1]);
            }
        }

        return best;
    }

    /// <summary>The word with every occurrence of <paramref name="pair"/>, left to right, joined into one symbol.</summary>
    private static List<string> MergePair(List<string> word, (string First, string Second) pair)
    {
        var merged = new List<string>(word.Count);
        for (var i = 0; i < word.Count;)
        {
            if (i < word.Count - 1 && word[i] == pair.First && word[i + 1] == pair.Second)
            {
                merged.Add(pair.First + pair.Second);
                i += 2;
            }
            else
            {
                merged.Add(word[i]);
                i++;
            }
        }

        return merged;
    }

    private static List<string> StringInfoElements(string s)
    {
        // Byte-encoded characters are all in the BMP, one char each.
        var list = new List<string>(s.Length);
        foreach (var c in s)
        {
            list.Add(c.ToString());
        }

        return list;
    }

    /// <summary>The byte-level alphabet's characters in vocabulary order: the printable bytes first, then the rest in byte order.</summary>
    private static List<string> BytesToUnicodeInOrder()
    {
        var printable = PrintableBytes();
        var map = BytesToUnicode();
        return [.. printable.Select(b => map[b]), .. Enumerable.Range(0, 256).Where(b => !printable.Contains(b)).Select(b => map[b])];
    }

    /// <summary>
    /// The byte-level alphabet (GPT-2's, which CLIP uses): a printable byte stands for itself, each of the other 68 bytes
    /// gets a code point from 256 on, in byte order, so every byte string is a string of visible characters.
    /// </summary>
    private static string[] BytesToUnicode()
    {
        var map = new string[256];
        foreach (var b in PrintableBytes())
        {
            map[b] = ((char)b).ToString();
        }

        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (map[b] is null)
            {
                map[b] = ((char)(256 + n)).ToString();
                n++;
            }
        }

        return map;
    }

    /// <summary>The bytes that stand for themselves: '!'..'~', '¡'..'¬' and '®'..'ÿ', in that order.</summary>
    private static List<int> PrintableBytes()
    {
        var bytes = new List<int>();
        for (var b = '!'; b <= '~'; b++)
        {
            bytes.Add(b);
        }

        for (var b = '¡'; b <= '¬'; b++)
        {
            bytes.Add(b);
        }

        for (var b = '®'; b <= 'ÿ'; b++)
        {
            bytes.Add(b);
        }

        return bytes;
    }

    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PreTokenizer();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRegex();

    /// <summary>Refuses FIFOs and devices before opening them: reading a FIFO blocks until a writer comes.</summary>
    private static void RequireRegularFile(string path)
    {
        if (Internal.FileKind.DescribeIfNotRegular(path) is { } kind)
        {
            throw new ModelLoadException($"{path}: not a regular file ({kind}); give the vocabulary file itself.");
        }
    }
}
