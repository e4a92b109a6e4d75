namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// A read-only view of the SDK's ranged blob stream that turns its failures (after the SDK's own retries and resumes)
/// into the store's exceptions, so a read that breaks halfway reports like every other storage failure and holds no secret.
/// </summary>
internal sealed class TranslatingReadStream(Stream inner, Func<Exception, Exception?> translate) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    /// <summary>The blob length (known although the stream does not seek).</summary>
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => throw new NotSupportedException("Blob read streams are forward-only.");
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (Exception e) when (translate(e) is { } mapped)
        {
            throw mapped;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && translate(e) is { } mapped)
        {
            throw mapped;
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("Blob read streams are forward-only.");

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
