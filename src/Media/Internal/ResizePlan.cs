namespace TempMe.Pipeline.Media.Internal;

/// <summary>
/// CLIP's <c>Resize(S, bicubic)</c> then <c>CenterCrop(S)</c>, as torchvision sizes them, applied to the frame as it is
/// displayed (sample aspect ratio applied, rotation applied).
/// </summary>
/// <param name="ScaledWidth">Width after the short-side resize.</param>
/// <param name="ScaledHeight">Height after the short-side resize.</param>
/// <param name="CropX">Left edge of the centre crop.</param>
/// <param name="CropY">Top edge of the centre crop.</param>
/// <param name="Size">Side of the square crop.</param>
internal readonly record struct ResizePlan(int ScaledWidth, int ScaledHeight, int CropX, int CropY, int Size)
{
    /// <summary>Plans the resize of a <paramref name="width"/>×<paramref name="height"/> coded frame.</summary>
    public static ResizePlan For(int width, int height, double sampleAspectRatio, int rotation, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        // Display size: pixels stretched by the SAR (rounded like ffmpeg's iw*sar), then turned.
        long displayWidth = Math.Max(1, (long)Math.Round(Math.Max(1, width) * (sampleAspectRatio > 0 ? sampleAspectRatio : 1), MidpointRounding.ToEven));
        long displayHeight = Math.Max(1, height);
        if (rotation is 90 or 270)
        {
            (displayWidth, displayHeight) = (displayHeight, displayWidth);
        }

        // torchvision _compute_resized_output_size: new_long = int(size * long / short).
        var shortSide = Math.Min(displayWidth, displayHeight);
        var longSide = Math.Max(displayWidth, displayHeight);
        var newLong = (int)Math.Min(int.MaxValue / 4, (double)(size * longSide) / shortSide);
        var (w, h) = displayWidth <= displayHeight ? (size, newLong) : (newLong, size);

        // torchvision center_crop: int(round((dim - size) / 2.0)), Python round (half to even).
        var x = (int)Math.Round((w - size) / 2.0, MidpointRounding.ToEven);
        var y = (int)Math.Round((h - size) / 2.0, MidpointRounding.ToEven);
        return new ResizePlan(w, h, x, y, size);
    }

    /// <summary>The ffmpeg filter text: bicubic scale to the planned size, then the crop.</summary>
    public string ToFilter() =>
        FormattableString.Invariant($"scale={ScaledWidth}:{ScaledHeight}:flags=bicubic,setsar=1,crop={Size}:{Size}:{CropX}:{CropY}");
}
