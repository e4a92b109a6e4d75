namespace TempMe.Pipeline.Search;

/// <summary>
/// Evaluates an index against ground-truth captions: captions are matched to indexed videos by name, the gallery is
/// the matched videos (as in the authors' test sets), and metrics come from the caption × video dot products.
/// </summary>
public static class IndexEvaluation
{
    /// <summary>Runs the evaluation; <paramref name="encodeTexts"/> turns captions into unit-length embeddings.</summary>
    public static EvaluationReport Run(SearchIndex index, IReadOnlyList<CaptionEntry> captions, Func<IReadOnlyList<string>, float[][]> encodeTexts)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(captions);
        ArgumentNullException.ThrowIfNull(encodeTexts);

        // First indexed video of each id; a copy under the same name elsewhere has the same content in practice.
        var byName = new Dictionary<string, (int Part, long Row)>(StringComparer.Ordinal);
        foreach (var (part, row, metadata) in index.Entries())
        {
            byName.TryAdd(metadata.Source, (part, row));
            byName.TryAdd(SourceNames.FileName(metadata.Source), (part, row));
            byName.TryAdd(SourceNames.Id(metadata.Source), (part, row));
        }

        var gallery = new List<(int Part, long Row)>();
        var galleryIndex = new Dictionary<(int, long), int>();
        var matched = new List<(CaptionEntry Caption, int Video)>();
        var unmatched = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var caption in captions)
        {
            if (!byName.TryGetValue(caption.Video, out var location))
            {
                unmatched.Add(caption.Video);
                continue;
            }

            if (!galleryIndex.TryGetValue(location, out var v))
            {
                v = gallery.Count;
                gallery.Add(location);
                galleryIndex[location] = v;
            }

            matched.Add((caption, v));
        }

        if (matched.Count == 0)
        {
            throw new SearchIndexException($"none of the {unmatched.Count} videos the captions name is in {index.DisplayName} (e.g. {string.Join(", ", unmatched.Take(3))}); video ids must match the sources' file names without extension.");
        }

        var texts = encodeTexts(matched.Select(m => m.Caption.Caption).ToList());
        var similarity = new float[matched.Count][];
        for (var c = 0; c < matched.Count; c++)
        {
            similarity[c] = new float[gallery.Count];
            for (var v = 0; v < gallery.Count; v++)
            {
                var (part, row) = gallery[v];
                similarity[c][v] = System.Numerics.Tensors.TensorPrimitives.Dot(texts[c], index.Matrices[part].Row(row));
            }
        }

        var videoOfCaption = matched.Select(m => m.Video).ToArray();
        return new EvaluationReport(
            RetrievalEvaluator.TextToVideo(similarity, videoOfCaption),
            RetrievalEvaluator.VideoToText(similarity, videoOfCaption),
            gallery.Count, matched.Count, unmatched.ToList());
    }
}
