using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// The encoders a search needs: the CLIP text tower with its tokenizer for text queries and the TempMe video encoder
/// for query-by-example, loaded with the same options <c>tempme index</c> uses so that the fingerprints compare.
/// </summary>
public sealed class QueryEncoder
{
    /// <summary>Words (tokens including SOT and EOT) per caption, as in the authors' evaluation.</summary>
    public const int MaxWords = 32;

    private readonly TempMeVideoEncoder _encoder;
    private readonly ClipTokenizer _tokenizer;

    private QueryEncoder(TempMeVideoEncoder encoder, ClipTokenizer tokenizer)
    {
        _encoder = encoder;
        _tokenizer = tokenizer;
    }

    /// <summary>The model's fingerprint (the same value <c>index.json</c> records for this model and frame count).</summary>
    public string Fingerprint => _encoder.Fingerprint;

    /// <summary>Width of the joint embedding.</summary>
    public int EmbeddingSize => _encoder.EmbeddingSize;

    /// <summary>The video encoder, for query-by-example.</summary>
    public IVideoEncoder Video => _encoder;

    /// <summary>
    /// Loads <paramref name="modelSpec"/> with its text tower for <paramref name="framesPerVideo"/> frames. The vocabulary
    /// is <paramref name="vocabulary"/> (a folder or file) or the one beside the checkpoint.
    /// </summary>
    /// <exception cref="ModelLoadException">The model, its text tower or the vocabulary cannot be used; the message says why.</exception>
    public static QueryEncoder Load(string modelSpec, int framesPerVideo, string? vocabulary, QueryModelSettings? settings = null, TextWriter? notices = null)
    {
        ArgumentNullException.ThrowIfNull(modelSpec);
        settings ??= new QueryModelSettings();
        var options = new EncoderOptions
        {
            LoadText = true,
            VisionHeads = settings.VisionHeads,
            TextHeads = settings.TextHeads,
            Schedule = settings.ClipLayers is { } layers ? TempMeSchedule.Default with { ClipLayers = layers } : TempMeSchedule.Default,
        };
        var encoder = EncoderFactory.Create(modelSpec, framesPerVideo, options, notices);
        if (encoder.Text is null)
        {
            throw new ModelLoadException($"{modelSpec}: the checkpoint has no text tower, so it cannot encode text queries; use a full CLIP/TempMe checkpoint.");
        }

        if (encoder.Text.Weights.OutputDim != encoder.EmbeddingSize)
        {
            throw new ModelLoadException($"{modelSpec}: text embeddings have {encoder.Text.Weights.OutputDim} values but video embeddings {encoder.EmbeddingSize}; the checkpoint is inconsistent.");
        }

        var tokenizer = vocabulary is not null
            ? ClipTokenizer.Load(vocabulary)
            : ClipTokenizer.TryLoadBeside(Directory.Exists(modelSpec) ? modelSpec : Path.GetDirectoryName(Path.GetFullPath(modelSpec))!)
              ?? throw new ModelLoadException($"{modelSpec}: no CLIP vocabulary beside the model; pass --vocab with a folder holding {ClipTokenizer.OpenAiVocabFile} or vocab.json + merges.txt.");
        return new QueryEncoder(encoder, tokenizer);
    }

    /// <summary>Unit-length embeddings of <paramref name="texts"/>, one array per text.</summary>
    public float[][] EncodeTexts(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var e = EmbeddingSize;
        var result = new float[texts.Count][];
        const int Batch = 64;
        for (var start = 0; start < texts.Count; start += Batch)
        {
            var n = Math.Min(Batch, texts.Count - start);
            var ids = new long[n * MaxWords];
            var mask = new long[n * MaxWords];
            for (var i = 0; i < n; i++)
            {
                var (ti, tm) = _tokenizer.Tokenize(texts[start + i], MaxWords);
                ti.CopyTo(ids, i * MaxWords);
                tm.CopyTo(mask, i * MaxWords);
            }

            var embeddings = new float[n * e];
            _encoder.EncodeTexts(ids, mask, n, MaxWords, embeddings);
            for (var i = 0; i < n; i++)
            {
                result[start + i] = embeddings.AsSpan(i * e, e).ToArray();
            }
        }

        return result;
    }
}
