namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>A TorchScript module (or other <c>__torch__</c> object) as a plain attribute bag: its class name and the state BUILD gave it.</summary>
internal sealed class PickleObject(string className)
{
    /// <summary>The TorchScript class name, e.g. <c>__torch__.torch.nn.modules.linear.Linear</c>.</summary>
    public string ClassName { get; } = className;

    /// <summary>The state set by BUILD (for a module: a dict of attribute name to value), or null.</summary>
    public object? State { get; set; }
}
