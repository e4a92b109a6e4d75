using System.Net;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// A forward-only stream over a Get Blob answer that resumes with a ranged read (pinned to the blob's ETag)
/// when the connection breaks mid-body.
/// </summary>
internal sealed class BlobReadStream : Stream
{
    private readonly AzureBlobStore _store;
    private readonly string _name;
    private readonly string? _etag;
    private readonly long _length;
    private readonly int _maxResumes;
    private HttpResponseMessage _response;
    private Stream _body;
    private long _position;
    private int _resumes;
    private bool _disposed;

    public BlobReadStream(AzureBlobStore store, string name, string? etag, long length, HttpResponseMessage response, Stream body, int maxResumes)
    {
        _store = store;
        _name = name;
        _etag = etag;
        _length = length;
        _response = response;
        _body = body;
        _maxResumes = maxResumes;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    /// <summary>The blob length from the answer headers (known although the stream cannot seek).</summary>
    public override long Length => _length >= 0 ? _length : throw new NotSupportedException("The blob length is unknown.");

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException("Blob read streams are forward-only.");
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var rented = new byte[buffer.Length];
        var n = ReadAsync(rented.AsMemory(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.Length == 0)
        {
            return 0;
        }

        while (true)
        {
            try
            {
                var n = await _body.ReadAsync(buffer, cancellationToken);
                if (n == 0 && _length >= 0 && _position < _length)
                {
                    throw new IOException($"The connection ended after {_position} of {_length} bytes.");
                }

                _position += n;
                return n;
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested && _resumes < _maxResumes)
            {
                _resumes++;
                await ResumeAsync(cancellationToken);
            }
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
        if (disposing && !_disposed)
        {
            _disposed = true;
            _body.Dispose();
            _response.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task ResumeAsync(CancellationToken cancellationToken)
    {
        _body.Dispose();
        _response.Dispose();
        var response = await _store.GetAsync(_name, _position, null, _etag, cancellationToken);
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            response.Dispose();
            throw new IOException($"Blob '{_name}' in {_store.DisplayName} changed while it was being read; read it again.");
        }

        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.PartialContent))
        {
            var failure = _store.Failure(response, "read", _name);
            response.Dispose();
            throw failure;
        }

        _response = response;
        _body = await response.Content.ReadAsStreamAsync(cancellationToken);
    }
}
