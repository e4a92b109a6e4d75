namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>A pickled dict or <c>OrderedDict</c>: its items in insertion order (a later equal key replaces the value).</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = new(PickleKeyComparer.Instance);

    /// <summary>The items, in order.</summary>
    public List<KeyValuePair<object?, object?>> Items { get; } = [];

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/>.</summary>
    public void Set(object? key, object? value)
    {
        // Only value-like keys (strings, numbers) are looked up; others are kept in order as they come.
        if (key is string or long or bool or double && _index.TryGetValue(key, out var at))
        {
            Items[at] = new(key, value);
            return;
        }

        if (key is string or long or bool or double)
        {
            _index[key] = Items.Count;
        }

        Items.Add(new(key, value));
    }
}
