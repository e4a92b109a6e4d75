namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// <c>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])</c> as a checked view: every
/// argument has the type PyTorch writes, and the view's last element lies inside the storage.
/// </summary>
internal static class TensorRebuilder
{
    private const int MaxDimensions = 16;

    /// <summary>The view the arguments describe; throws <see cref="ModelLoadException"/> naming what is wrong.</summary>
    public static TorchTensorRef Rebuild(string path, object?[] args)
    {
        if (args.Length < 4 || args[0] is not TorchStorageRef storage)
        {
            throw Bad(path, "_rebuild_tensor_v2 is not called with (storage, offset, size, stride, ...)");
        }

        if (args[1] is not long offset || offset < 0)
        {
            throw Bad(path, $"a tensor of storage '{storage.Key}' has a storage offset that is not a non-negative integer");
        }

        var shape = Dimensions(path, args[2], storage, "size");
        var strides = Dimensions(path, args[3], storage, "stride");
        if (shape.Length != strides.Length || shape.Length > MaxDimensions)
        {
            throw Bad(path, $"a tensor of storage '{storage.Key}' has {shape.Length} sizes and {strides.Length} strides (at most {MaxDimensions}, one stride per size)");
        }

        var count = 1L;
        var last = offset;
        for (var d = 0; d < shape.Length; d++)
        {
            if (shape[d] > int.MaxValue)
            {
                throw Bad(path, $"a tensor of storage '{storage.Key}' has a dimension of {shape[d]}");
            }

            try
            {
                count = checked(count * shape[d]);
                if (shape[d] > 0)
                {
                    last = checked(last + ((shape[d] - 1) * strides[d]));
                }
            }
            catch (OverflowException)
            {
                throw Bad(path, $"a tensor of storage '{storage.Key}' has sizes and strides whose product overflows");
            }
        }

        if (count > SafeTensorsFile.MaxElements)
        {
            throw Bad(path, $"a tensor of storage '{storage.Key}' has {count} elements, more than {SafeTensorsFile.MaxElements}");
        }

        if (count > 0 && last >= storage.ElementCount)
        {
            throw Bad(path, $"a tensor of storage '{storage.Key}' reaches element {last} (storage offset {offset}), past the end of the storage's {storage.ElementCount} elements");
        }

        return new TorchTensorRef(storage, offset, shape.Select(s => (int)s).ToArray(), strides);
    }

    private static long[] Dimensions(string path, object? value, TorchStorageRef storage, string what)
    {
        if (value is not object?[] tuple || tuple.Length > MaxDimensions)
        {
            throw Bad(path, $"a tensor of storage '{storage.Key}' has a {what} that is not a tuple of at most {MaxDimensions} integers");
        }

        var result = new long[tuple.Length];
        for (var i = 0; i < tuple.Length; i++)
        {
            if (tuple[i] is not long v || v < 0)
            {
                throw Bad(path, $"a tensor of storage '{storage.Key}' has a {what} entry that is not a non-negative integer");
            }

            result[i] = v;
        }

        return result;
    }

    private static ModelLoadException Bad(string path, string problem) => new($"{path}: not a valid PyTorch checkpoint: {problem} (a corrupt or crafted file).");
}
