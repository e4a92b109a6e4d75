using System.Globalization;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>This process's memory from <c>/proc/self/status</c> (Linux): private anonymous pages apart from mapped file pages.</summary>
/// <param name="AnonymousBytes">Resident anonymous memory (heap, stacks): what the process itself costs.</param>
/// <param name="FileBytes">Resident file-backed pages (code, memory-mapped files; shared, evictable page cache).</param>
/// <param name="PeakResidentBytes">Peak resident set, both kinds.</param>
internal sealed record ProcessMemory(long AnonymousBytes, long FileBytes, long PeakResidentBytes)
{
    /// <summary>Reads the current figures; zeros where the file is absent (not Linux).</summary>
    public static ProcessMemory Read()
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return new ProcessMemory(0, 0, 0);
        }

        long Field(string[] lines, string name)
        {
            var line = lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal));
            var value = line?[(name.Length + 1)..].Trim().Split(' ')[0];
            return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : 0;
        }

        var all = File.ReadAllLines(Status);
        return new ProcessMemory(Field(all, "RssAnon"), Field(all, "RssFile"), Field(all, "VmHWM"));
    }
}
