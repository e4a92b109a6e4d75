namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>
/// The secret queries (SAS tokens) of a job's addresses, stored apart from the job row in <c>job_secrets</c>. Only the
/// silo's background work and workers read them (<see cref="PostgresLedger.GetJobForWorkAsync"/>); HTTP answers never do.
/// </summary>
/// <param name="Source">The source's query, or null.</param>
/// <param name="Output">The output's query, or null.</param>
/// <param name="Model">The model's query, or null.</param>
public sealed record JobSecrets(string? Source, string? Output, string? Model)
{
    /// <summary>The field names stored in <c>job_secrets.field</c>. Persisted: never rename one.</summary>
    internal static readonly string[] Fields = ["source", "output", "model"];

    /// <summary>No secrets.</summary>
    public static JobSecrets None { get; } = new(null, null, null);

    /// <summary>Splits a submitted spec into what may be stored and shown, and its secrets.</summary>
    public static (DistributedJobSpec Shown, JobSecrets Secrets) Split(DistributedJobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var source = AddressSecrets.Split(spec.Source);
        var output = AddressSecrets.Split(spec.Output);
        var model = AddressSecrets.Split(spec.Model);
        return (spec with { Source = source.Shown, Output = output.Shown, Model = model.Shown }, new JobSecrets(source.Secret, output.Secret, model.Secret));
    }

    /// <summary>The spec with the full addresses, as submitted.</summary>
    public DistributedJobSpec Apply(DistributedJobSpec shown)
    {
        ArgumentNullException.ThrowIfNull(shown);
        return shown with
        {
            Source = AddressSecrets.Join(shown.Source, Source),
            Output = AddressSecrets.Join(shown.Output, Output),
            Model = AddressSecrets.Join(shown.Model, Model),
        };
    }

    /// <summary>The secrets by field, without the empty ones.</summary>
    internal IEnumerable<(string Field, string Secret)> ByField()
    {
        string?[] values = [Source, Output, Model];
        for (var i = 0; i < Fields.Length; i++)
        {
            if (values[i] is { } secret)
            {
                yield return (Fields[i], secret);
            }
        }
    }

    /// <summary>Builds the record from stored rows.</summary>
    internal static JobSecrets FromFields(IReadOnlyDictionary<string, string> byField) =>
        new(byField.GetValueOrDefault("source"), byField.GetValueOrDefault("output"), byField.GetValueOrDefault("model"));
}
