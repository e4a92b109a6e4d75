namespace TempMe.Pipeline.Indexing.Output;

/// <summary>The shape and data offset of a float32 <c>.npy</c> file, as <see cref="NpyFormat.ReadHeader"/> reads them.</summary>
/// <param name="Rows">Rows of the matrix.</param>
/// <param name="Columns">Columns (embedding width; 1 for a 1-d array).</param>
/// <param name="DataOffset">Byte offset of the first float.</param>
public sealed record NpyHeader(long Rows, int Columns, long DataOffset);
