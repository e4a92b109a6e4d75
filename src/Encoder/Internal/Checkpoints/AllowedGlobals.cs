namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// The only globals a checkpoint pickle may name: those that rebuild tensors, storages and containers, and TorchScript
/// classes (read as attribute bags). A pickle names a global in order to call it; every other name is refused at once,
/// so nothing named by the file ever runs.
/// </summary>
internal static class AllowedGlobals
{
    private static readonly Dictionary<string, PickleGlobalKind> Functions = new(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = PickleGlobalKind.OrderedDict,
        ["torch._utils._rebuild_tensor_v2"] = PickleGlobalKind.RebuildTensor,
        ["torch._utils._rebuild_parameter"] = PickleGlobalKind.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = PickleGlobalKind.RebuildParameter,
        ["torch.jit._pickle.restore_type_tag"] = PickleGlobalKind.FirstArgument,
        ["torch.jit._pickle.build_intlist"] = PickleGlobalKind.FirstArgument,
        ["torch.jit._pickle.build_floatlist"] = PickleGlobalKind.FirstArgument,
        ["torch.jit._pickle.build_boollist"] = PickleGlobalKind.FirstArgument,
        ["torch.jit._pickle.build_doublelist"] = PickleGlobalKind.FirstArgument,
        ["torch.jit._pickle.build_tensorlist"] = PickleGlobalKind.FirstArgument,
    };

    /// <summary>The global <paramref name="module"/>.<paramref name="name"/>; throws naming it when it is not allowed.</summary>
    public static PickleGlobal Resolve(string path, string module, string name)
    {
        var full = module + "." + name;
        if (Functions.TryGetValue(full, out var kind))
        {
            return new PickleGlobal(module, name, kind);
        }

        if (module == "torch" && TorchDType.Find(name) is not null)
        {
            return new PickleGlobal(module, name, PickleGlobalKind.Storage);
        }

        if (module.StartsWith("__torch__", StringComparison.Ordinal))
        {
            return new PickleGlobal(module, name, PickleGlobalKind.ScriptClass);
        }

        throw new ModelLoadException(
            $"{path}: refused: the checkpoint's pickle names the global '{Describe(full)}', which a weights file has no need of " +
            "(only tensors, storages, ordered dicts and TorchScript modules are rebuilt; nothing in the file is run). " +
            "Save the weights alone with torch.save(model.state_dict(), 'weights.pt') or convert them to safetensors.");
    }

    // The name is the file's text: keep it printable and short.
    private static string Describe(string full)
    {
        var clean = new string(full.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return clean.Length <= 120 ? clean : clean[..120] + "...";
    }
}
