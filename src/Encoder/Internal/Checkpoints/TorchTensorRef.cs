namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>A tensor rebuilt by <c>_rebuild_tensor_v2</c>: a strided view of a storage, already checked to lie inside it.</summary>
internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, int[] Shape, long[] Strides)
{
    /// <summary>Whether the view is the row-major run <c>[Offset, Offset + count)</c>.</summary>
    public bool IsContiguous
    {
        get
        {
            var expected = 1L;
            for (var d = Shape.Length - 1; d >= 0; d--)
            {
                if (Shape[d] != 1 && Strides[d] != expected)
                {
                    return false;
                }

                expected *= Shape[d];
            }

            return true;
        }
    }
}
