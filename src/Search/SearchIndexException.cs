namespace TempMe.Pipeline.Search;

/// <summary>The index cannot be searched as given (missing, unfinished, corrupt, or made with another model); the message says why and what to do.</summary>
public sealed class SearchIndexException(string message, Exception? inner = null) : Exception(message, inner);
