using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Silo;

/// <summary>Checks a submitted job, gathering every problem keyed by the JSON field that has it.</summary>
internal static class JobSpecValidator
{
    /// <summary>The validated spec, or the errors by field.</summary>
    public static (DistributedJobSpec? Spec, Dictionary<string, string[]> Errors) Validate(JsonElement body, SiloOptions options)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var source = Address(body, "source", options, errors, mustExist: true);
        var output = Address(body, "output", options, errors, mustExist: false);
        var model = String(body, "model", errors);
        var frames = Int(body, "frames", SamplingSettings.Default.Frames, SamplingSettings.MinFrames, SamplingSettings.MaxFrames, errors);
        var shardSize = Int(body, "shardSize", 64, 1, 100_000, errors);
        var maxAttempts = Int(body, "maxAttempts", 3, 1, 100, errors);
        if (model is not null && model.Length > 2048)
        {
            errors["model"] = ["model is too long."];
        }
        else if (model is not null && options.ModelRoots.RefusalForSubmit(model) is { } refusal)
        {
            errors["model"] = [refusal];
        }

        return errors.Count > 0 ? (null, errors) : (new DistributedJobSpec(source!, output!, model!, frames, shardSize, maxAttempts), errors);
    }

    private static string? String(JsonElement body, string field, Dictionary<string, string[]> errors)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            errors[field] = [$"{field} is required."];
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()))
        {
            errors[field] = [$"{field} must be a non-empty string."];
            return null;
        }

        return value.GetString()!.Trim();
    }

    private static int Int(JsonElement body, string field, int fallback, int min, int max, Dictionary<string, string[]> errors)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var number) || number < min || number > max)
        {
            errors[field] = [$"{field} must be an integer from {min} to {max}."];
            return fallback;
        }

        return number;
    }

    private static string? Address(JsonElement body, string field, SiloOptions options, Dictionary<string, string[]> errors, bool mustExist)
    {
        var text = String(body, field, errors);
        if (text is null)
        {
            return null;
        }

        BlobAddress address;
        try
        {
            address = BlobAddress.Parse(text);
            if (address.Kind == BlobAddressKind.AzureBlob)
            {
                // Proves the credentials are there (connection string or SAS) without contacting storage.
                _ = BlobStoreFactory.OpenFromEnvironment(text);
            }
        }
        catch (ArgumentException e)
        {
            errors[field] = [SecretRedaction.Redact(e.Message)];
            return null;
        }

        if (address.Kind == BlobAddressKind.LocalFolder)
        {
            var path = address.LocalPath!;
            if (!new AllowedRoots(options.AllowedRoots).Contains(path))
            {
                errors[field] = [options.AllowedRoots.Count == 0
                    ? $"{field} is a local path, but this silo allows no local paths: start it with --allowed-roots DIR,... or use a blob address."
                    : $"{field} {path} is outside the allowed roots ({string.Join(", ", options.AllowedRoots)}) once symbolic links are resolved: give a folder under a root (not a link out of it) or add its folder to --allowed-roots."];
                return null;
            }

            if (mustExist && !Directory.Exists(path) && !File.Exists(path))
            {
                errors[field] = [$"{field} {path} does not exist."];
                return null;
            }

            return path;
        }

        return text;
    }
}
