namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>What an allowed pickle global does when called; everything else is refused.</summary>
internal enum PickleGlobalKind
{
    /// <summary><c>collections.OrderedDict</c>: an empty dict.</summary>
    OrderedDict,

    /// <summary><c>torch._utils._rebuild_tensor_v2</c>: a tensor view of a storage.</summary>
    RebuildTensor,

    /// <summary><c>torch._utils._rebuild_parameter</c> (and <c>_with_state</c>): the wrapped tensor.</summary>
    RebuildParameter,

    /// <summary>A typed storage class (<c>torch.HalfStorage</c>, ...): only named in persistent ids.</summary>
    Storage,

    /// <summary>A TorchScript class (<c>__torch__.*</c>): an attribute bag.</summary>
    ScriptClass,

    /// <summary>TorchScript's <c>torch.jit._pickle</c> helpers (<c>restore_type_tag</c>, <c>build_intlist</c>, ...): their first argument.</summary>
    FirstArgument,
}
