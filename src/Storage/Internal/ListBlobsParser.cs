using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>Parses the List Blobs response body (<c>EnumerationResults</c>).</summary>
internal static class ListBlobsParser
{
    /// <summary>One blob of a page: full name in the container.</summary>
    public readonly record struct Entry(string Name, long Size, DateTimeOffset LastModified, string? ETag);

    /// <summary>Reads one page; returns the entries and the continuation marker (null at the end).</summary>
    public static async Task<(List<Entry> Entries, string? NextMarker)> ParseAsync(Stream body, CancellationToken cancellationToken)
    {
        var settings = new XmlReaderSettings { Async = true, DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        using var reader = XmlReader.Create(body, settings);
        var doc = await XDocument.LoadAsync(reader, LoadOptions.None, cancellationToken);
        var root = doc.Root ?? throw new InvalidDataException("The List Blobs answer has no root element.");

        var entries = new List<Entry>();
        foreach (var blob in root.Element("Blobs")?.Elements("Blob") ?? [])
        {
            var nameElement = blob.Element("Name");
            if (nameElement is null)
            {
                continue;
            }

            var name = nameElement.Value;
            if (string.Equals((string?)nameElement.Attribute("Encoded"), "true", StringComparison.OrdinalIgnoreCase))
            {
                name = Uri.UnescapeDataString(name);
            }

            var props = blob.Element("Properties");
            var sizeText = props?.Element("Content-Length")?.Value;
            var modifiedText = props?.Element("Last-Modified")?.Value;
            entries.Add(new Entry(
                name,
                string.IsNullOrEmpty(sizeText) ? 0 : long.Parse(sizeText, NumberStyles.Integer, CultureInfo.InvariantCulture),
                string.IsNullOrEmpty(modifiedText) ? default : DateTimeOffset.Parse(modifiedText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                props?.Element("Etag")?.Value));
        }

        var marker = root.Element("NextMarker")?.Value;
        return (entries, string.IsNullOrEmpty(marker) ? null : marker);
    }
}
