namespace TempMe.Pipeline.Media.Internal;

/// <summary>How ffmpeg picks the chosen frames out of the stream.</summary>
internal enum DecodeStrategy
{
    /// <summary>Choose by duration and frame-rate constancy.</summary>
    Auto,

    /// <summary>Decode every frame and keep the chosen ones (<c>select=eq(n\,a)+…</c>).</summary>
    Select,

    /// <summary>One input per chosen frame, each opened with <c>-ss</c> (keyframe seek, then exact decode to the frame).</summary>
    Seek,
}
