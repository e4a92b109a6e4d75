namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// A storage named by a persistent id (<c>('storage', torch.HalfStorage, key, location, numel)</c>): the archive entry
/// <c>data/KEY</c>, already checked to hold exactly <paramref name="ElementCount"/> elements.
/// </summary>
internal sealed record TorchStorageRef(string Key, string EntryName, TorchDType DType, long ElementCount);
