namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// Names every tensor in an unpickled checkpoint by its path: a state dict's keys, a TorchScript module's attribute
/// path (<c>visual.transformer.resblocks.0.attn.in_proj_weight</c>, the names its state dict has), nested dicts joined
/// with dots (<c>{"state_dict": {...}}</c> gives a <c>state_dict.</c> prefix).
/// </summary>
internal sealed class TensorTreeWalker
{
    private const int MaxDepth = 64;
    private const int MaxTensors = 1_000_000;

    /// <summary>
    /// The most dict items one walk may visit. A tree without shared containers has no more items than the pickle
    /// made values; a container reached twice (through the memo) is walked twice, so a chain of dicts each holding
    /// the one below it twice would otherwise take 2^depth steps without reaching a tensor.
    /// </summary>
    public const int MaxWalkSteps = RestrictedUnpickler.MaxValues;

    /// <summary>The longest path to a tensor or container; real ones are under a few hundred characters.</summary>
    public const int MaxNameLength = 4096;

    /// <summary>
    /// The most characters the tensor names of one checkpoint may hold together (a million tensors of 64 characters);
    /// one tensor reached through the memo under many long names would otherwise hold gigabytes.
    /// </summary>
    public const long MaxNameChars = 64L * 1024 * 1024;

    private readonly string _path;
    private readonly Dictionary<string, TorchTensorRef> _into = new(StringComparer.Ordinal);
    private readonly HashSet<object> _visiting = new(ReferenceEqualityComparer.Instance);
    private int _steps;
    private long _nameChars;

    private TensorTreeWalker(string path) => _path = path;

    /// <summary>The tensors under <paramref name="root"/> by name (the first name of a tensor reached twice wins for that name).</summary>
    public static Dictionary<string, TorchTensorRef> Collect(string path, object? root)
    {
        var walker = new TensorTreeWalker(path);
        walker.Walk(root, "", 0);
        return walker._into;
    }

    private void Walk(object? value, string name, int depth)
    {
        if (value is TorchTensorRef tensor)
        {
            if (_into.Count >= MaxTensors)
            {
                throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: more than {MaxTensors} tensors (a crafted file).");
            }

            // The names kept are the walk's live memory: one tensor reached through the memo under many long names
            // must not hold gigabytes of them.
            if (_into.TryAdd(name, tensor) && (_nameChars += name.Length) > MaxNameChars)
            {
                throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: its tensor names hold more than {MaxNameChars} characters together (a crafted file).");
            }

            return;
        }

        if (value is not (PickleDict or PickleObject))
        {
            return;
        }

        if (depth > MaxDepth)
        {
            throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: containers nested more than {MaxDepth} deep (a crafted file).");
        }

        // A container that holds itself (through the memo) is walked once.
        if (!_visiting.Add(value))
        {
            return;
        }

        var dict = value as PickleDict ?? (value as PickleObject)?.State as PickleDict;
        if (dict is not null)
        {
            foreach (var (key, item) in dict.Items)
            {
                if (++_steps > MaxWalkSteps)
                {
                    throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: walking its dicts takes more than {MaxWalkSteps} steps (dicts shared many times over through the pickle's memo; a crafted file).");
                }

                // Only a tensor or a container needs a name: other items (config strings, numbers) cost nothing.
                if (item is not (TorchTensorRef or PickleDict or PickleObject))
                {
                    continue;
                }

                var part = key switch { string s => s, long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => null };
                if (part is not null)
                {
                    Walk(item, Join(name, part), depth + 1);
                }
            }
        }

        _visiting.Remove(value);
    }

    private string Join(string name, string part)
    {
        var length = name.Length == 0 ? part.Length : name.Length + 1L + part.Length;
        if (length > MaxNameLength)
        {
            throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: a tensor path longer than {MaxNameLength} characters (a crafted file).");
        }

        return name.Length == 0 ? part : name + "." + part;
    }
}
