namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// Names every tensor in an unpickled checkpoint by its path: a state dict's keys, a TorchScript module's attribute
/// path (<c>visual.transformer.resblocks.0.attn.in_proj_weight</c>, the names its state dict has), nested dicts joined
/// with dots (<c>{"state_dict": {...}}</c> gives a <c>state_dict.</c> prefix).
/// </summary>
internal static class TensorTreeWalker
{
    private const int MaxDepth = 64;
    private const int MaxTensors = 1_000_000;

    /// <summary>The tensors under <paramref name="root"/> by name (the first name of a tensor reached twice wins for that name).</summary>
    public static Dictionary<string, TorchTensorRef> Collect(string path, object? root)
    {
        var result = new Dictionary<string, TorchTensorRef>(StringComparer.Ordinal);
        var visiting = new HashSet<object>(ReferenceEqualityComparer.Instance);
        Walk(path, root, "", 0, result, visiting);
        return result;
    }

    private static void Walk(string path, object? value, string name, int depth, Dictionary<string, TorchTensorRef> into, HashSet<object> visiting)
    {
        if (value is TorchTensorRef tensor)
        {
            if (into.Count >= MaxTensors)
            {
                throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: more than {MaxTensors} tensors (a crafted file).");
            }

            into.TryAdd(name, tensor);
            return;
        }

        if (value is not (PickleDict or PickleObject))
        {
            return;
        }

        if (depth > MaxDepth)
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: containers nested more than {MaxDepth} deep (a crafted file).");
        }

        // A container that holds itself (through the memo) is walked once.
        if (!visiting.Add(value))
        {
            return;
        }

        var dict = value as PickleDict ?? (value as PickleObject)?.State as PickleDict;
        if (dict is not null)
        {
            foreach (var (key, item) in dict.Items)
            {
                var part = key switch { string s => s, long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => null };
                if (part is not null)
                {
                    Walk(path, item, name.Length == 0 ? part : name + "." + part, depth + 1, into, visiting);
                }
            }
        }

        visiting.Remove(value);
    }
}
