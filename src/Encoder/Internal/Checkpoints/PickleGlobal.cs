namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>An allowed global named by a pickle (<c>GLOBAL</c> / <c>STACK_GLOBAL</c>); never a live Python object.</summary>
internal sealed record PickleGlobal(string Module, string Name, PickleGlobalKind Kind)
{
    /// <summary><c>module.name</c>.</summary>
    public string FullName => Module + "." + Name;
}
