using System.Reflection;

namespace TempMe.Pipeline.Ledger.Internal;

/// <summary>Reads the versioned SQL scripts a project embeds from its <c>Sql/</c> folder (<c>Dialect-NNN-name.sql</c>).</summary>
public static class SqlScripts
{
    /// <summary>The migrations of one dialect (<c>Sqlite</c>, <c>PostgreSQL</c>), ordered by version.</summary>
    public static IReadOnlyList<(int Version, string Sql)> Migrations(string dialect) => Migrations(typeof(SqlScripts).Assembly, dialect);

    /// <summary>The migrations of one dialect embedded in <paramref name="assembly"/> under <c>Sql/</c>, ordered by version.</summary>
    public static IReadOnlyList<(int Version, string Sql)> Migrations(Assembly assembly, string dialect)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var prefix = $"{assembly.GetName().Name}.Sql.{dialect}-";
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .Select(name => (Version: int.Parse(name.AsSpan(prefix.Length, 3), System.Globalization.CultureInfo.InvariantCulture), Sql: Read(assembly, name)))
            .OrderBy(m => m.Version)
            .ToList();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded SQL script {name} is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
