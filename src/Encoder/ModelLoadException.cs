namespace TempMe.Pipeline.Encoder;

/// <summary>
/// A model, checkpoint, vocabulary or schedule could not be used. The message names the file (or setting) and the problem,
/// and where possible the fix.
/// </summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>Creates the exception with an empty message.</summary>
    public ModelLoadException()
    {
    }

    /// <summary>Creates the exception with a message naming the file and the problem.</summary>
    public ModelLoadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public ModelLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
