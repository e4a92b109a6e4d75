using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>
/// The exclusive lock a <c>tempme index</c> run holds on its output folder for the whole run: an OS lock on
/// <c>.tempme/lock</c> (<see cref="FileShare.None"/>, a <c>flock</c> on Linux), which dies with its process, so a file
/// left by a <c>kill -9</c>'d run never blocks. Who holds it is written to <c>.tempme/lock.owner</c>, a separate file
/// because the locked one cannot be read by another process.
/// </summary>
public sealed partial class OutputFolderLock : IDisposable
{
    private readonly FileStream _lock;
    private readonly string _outputFolder;

    private OutputFolderLock(FileStream held, string outputFolder)
    {
        _lock = held;
        _outputFolder = outputFolder;
    }

    /// <summary>The lock file of an output folder.</summary>
    public static string LockPath(string outputFolder) => Path.Combine(outputFolder, ".tempme", "lock");

    /// <summary>The file naming the current holder.</summary>
    public static string OwnerPath(string outputFolder) => LockPath(outputFolder) + ".owner";

    /// <summary>Takes the lock, or throws <see cref="OutputFolderBusyException"/> naming the run that holds it.</summary>
    public static OutputFolderLock Acquire(string outputFolder)
    {
        var path = LockPath(outputFolder);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        FileStream held;
        try
        {
            held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsSharingViolation(e))
        {
            throw new OutputFolderBusyException(outputFolder, ReadOwner(outputFolder));
        }

        WriteOwner(outputFolder);
        return new OutputFolderLock(held, outputFolder);
    }

    /// <summary>Releases the lock (also done by the OS when the process dies), removing the owner note first.</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(OwnerPath(_outputFolder));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A stale note is harmless: the next run overwrites it.
        }

        _lock.Dispose();
    }

    // EWOULDBLOCK from flock: .NET reports it as a sharing violation carrying errno 11 (EAGAIN) on Linux.
    private static bool IsSharingViolation(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    [GeneratedRegex(@"^pid [0-9]+ on host [A-Za-z0-9._-]+, started [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$", RegexOptions.CultureInvariant)]
    private static partial Regex OwnerFormat();

    private static void WriteOwner(string outputFolder)
    {
        var owner = string.Create(CultureInfo.InvariantCulture,
            $"pid {Environment.ProcessId} on host {Environment.MachineName}, started {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss} UTC");
        try
        {
            File.WriteAllText(OwnerPath(outputFolder), owner + "\n", Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a description for a second run's message; the lock itself is held. A full disk is reported by
            // the run's first real write.
        }
    }

    private static string? ReadOwner(string outputFolder)
    {
        try
        {
            // Only a note in our own format is repeated; anything else in the file is not echoed.
            var text = File.ReadAllText(OwnerPath(outputFolder), Encoding.UTF8).Trim();
            return text.Length <= 200 && OwnerFormat().IsMatch(text) ? text : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Another <c>tempme index</c> run holds the output folder; the message names it and the way out.</summary>
public sealed class OutputFolderBusyException(string outputFolder, string? owner) : Exception(
    $"--out {outputFolder} is in use by another tempme index run ({owner ?? "its owner is unknown"}; lock {OutputFolderLock.LockPath(outputFolder)}): " +
    "wait for it to finish or stop it, or choose another --out. Two runs on one folder would undo each other's work.")
{
}
