using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Search;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme search INDEX "text"</c> (or <c>--video FILE</c>, <c>--like SOURCE</c>): exact top-k over the index's embeddings.</summary>
internal static class SearchCommand
{
    /// <summary>The most results one query may ask for.</summary>
    public const int MaxK = 10_000;

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var index = new Argument<string>("index") { Description = "The index: an output folder of tempme index, or the output address (az://…, https://…) of a finished job." };
        var query = new Argument<string?>("query") { Description = "The text to search for.", Arity = ArgumentArity.ZeroOrOne };
        var k = new Option<int>("-k", "--top") { Description = $"Results to print (1..{MaxK}).", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per result line." };
        var video = new Option<string?>("--video") { Description = "Query by example: encode this video file with the index's sampling." };
        var like = new Option<string?>("--like") { Description = "Query by example: a video already in the index (its source, file name, or file name without extension)." };
        var model = new SearchModelOptions();
        var command = new Command("search", "Search an index by text, or by an example video.") { index, query, k, json, video, like };
        model.AddTo(command);

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var text = parse.GetValue(query);
            var videoFile = parse.GetValue(video);
            var likeName = parse.GetValue(like);
            var top = parse.GetValue(k);
            var given = (text is not null ? 1 : 0) + (videoFile is not null ? 1 : 0) + (likeName is not null ? 1 : 0);
            if (given != 1)
            {
                throw new UsageException(given == 0
                    ? "give a text query, --video FILE or --like SOURCE."
                    : "give only one of a text query, --video FILE and --like SOURCE.");
            }

            if (text is not null && string.IsNullOrWhiteSpace(text))
            {
                throw new UsageException("the query is empty; give some words to search for, e.g. \"a man is cooking pasta\".");
            }

            if (top is < 1 or > MaxK)
            {
                throw new UsageException($"-k {top} is out of range; give 1..{MaxK}.");
            }

            if (videoFile is not null && !File.Exists(videoFile))
            {
                throw new UsageException($"--video {videoFile}: no such file.");
            }

            using var opened = await SearchIndexOpening.OpenAsync(parse.GetValue(index)!, cancellationToken);
            float[] embedding;
            if (likeName is not null)
            {
                embedding = StoredEmbedding(opened, likeName);
            }
            else
            {
                var encoder = SearchIndexOpening.LoadModel(opened, parse.GetValue(model.Model), parse.GetValue(model.Vocab), model.Settings(parse));
                embedding = text is not null
                    ? encoder.EncodeTexts([text])[0]
                    : await EncodeVideoAsync(encoder, opened.Manifest.Sampling, videoFile!, cancellationToken);
            }

            var hits = opened.Search(embedding, top, cancellationToken);
            foreach (var hit in hits)
            {
                Console.WriteLine(parse.GetValue(json) ? JsonLine(hit) : TextLine(hit));
            }

            if (hits.Count == 0)
            {
                Console.Error.WriteLine($"note: the index {opened.DisplayName} holds no videos.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The stored embedding of the indexed video <paramref name="name"/>.</summary>
    private static float[] StoredEmbedding(SearchIndex index, string name)
    {
        var matches = index.Entries().Where(e => SourceNames.Matches(e.Metadata.Source, name)).ToList();
        var distinct = matches.Select(m => m.Metadata.Source).Distinct(StringComparer.Ordinal).ToList();
        if (distinct.Count == 0)
        {
            throw new UsageException($"--like {name}: no such video in the index; give a source as listed in its parts (path, file name, or file name without extension).");
        }

        if (distinct.Count > 1)
        {
            throw new UsageException($"--like {name} names {distinct.Count} videos ({string.Join(", ", distinct.Take(3))}); give the full source.");
        }

        return index.Matrices[matches[0].Part].Row(matches[0].Row).ToArray();
    }

    /// <summary>Samples and encodes a video file the way the index sampled its videos.</summary>
    private static async Task<float[]> EncodeVideoAsync(QueryEncoder encoder, ManifestSampling sampling, string path, CancellationToken cancellationToken)
    {
        var settings = new SamplingSettings(sampling.Frames, sampling.ImageSize, sampling.FramesPerSecond);
        var sample = await new FfmpegFrameSampler().SampleAsync(path, settings, cancellationToken);
        if (sample.Frames is null)
        {
            throw new UsageException($"--video {path}: {sample.ErrorCode}: {sample.Message}");
        }

        var embedding = new float[encoder.EmbeddingSize];
        encoder.Video.EncodeVideos(sample.Frames, 1, embedding);
        return embedding;
    }

    private static string TextLine(SearchHit hit) => string.Create(CultureInfo.InvariantCulture,
        $"{hit.Rank,4}  {hit.Score,9:F6}  {hit.Metadata.Source}  t={string.Join(",", hit.Metadata.TimestampsSeconds.Select(t => t.ToString("0.###", CultureInfo.InvariantCulture)))}");

    private static string JsonLine(SearchHit hit) => JsonSerializer.Serialize(SearchResult.From(hit, hit.Metadata.Source), OutputJson.Options);
}
