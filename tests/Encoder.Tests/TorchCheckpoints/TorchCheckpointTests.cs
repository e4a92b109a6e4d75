using TempMe.Pipeline.Encoder.Internal;
using TempMe.Pipeline.Encoder.Internal.Checkpoints;
using Xunit.Abstractions;

namespace TempMe.Pipeline.Encoder.Tests.TorchCheckpoints;

/// <summary>
/// PyTorch checkpoints (issue 15) written by real torch: each gives the embeddings of the safetensors holding the same
/// weights, and hostile or broken files are refused with the global or the problem named, nothing in them run.
/// </summary>
public sealed class TorchCheckpointTests(TorchCheckpointFiles files, ITestOutputHelper output) : IClassFixture<TorchCheckpointFiles>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tempme-torch-test").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void A_tempme_state_dict_folder_with_clip_names_and_lora_gives_the_safetensors_embeddings()
    {
        var reference = Embed(TinyReference.WeightsPath("weights.safetensors"), out var refText, out var refHash);
        var folder = files["tempme"];
        Assert.Equal(Path.Combine(folder, "pytorch_model.bin"), EncoderFactory.ResolveCheckpoint(folder));

        var video = Embed(folder, out var text, out var hash, out var source);
        Assert.Equal(reference, video);
        Assert.Equal(refText, text);
        Assert.Equal(refHash, hash);
        Assert.Contains("prefix 'clip.'", source, StringComparison.Ordinal);
    }

    [Fact]
    public void A_torchscript_archive_in_fp16_gives_the_embeddings_of_the_fp16_rounded_weights()
    {
        // The same weights rounded to fp16 and back, as float32 safetensors: the loader must read exactly these values.
        using (var f = SafeTensorsFile.Open(TinyReference.WeightsPath("weights.safetensors")))
        {
            var rounded = f.Tensors.Values.Select(e => SafeTensorsWriter.Tensor.F32(e.Name, e.Shape, f.ReadFloat32(e.Name).Select(v => (float)(Half)v).ToArray())).ToList();
            SafeTensorsWriter.Write(Path.Combine(_dir, "rounded.safetensors"), rounded);
        }

        using (var ts = TensorFileOpener.Open(files["openai_fp16.pt"]))
        {
            Assert.IsType<TorchZipCheckpoint>(ts);
            Assert.Equal("F16", ts.Find("visual.conv1.weight")!.DType);
            Assert.Contains("visual.transformer.resblocks.0.attn.TVPt_LoRA_a", ts.Tensors.Keys);
        }

        var expected = Embed(Path.Combine(_dir, "rounded.safetensors"), out var expectedText, out var expectedHash);
        var video = Embed(files["openai_fp16.pt"], out var text, out var hash);
        Assert.Equal(expected, video);
        Assert.Equal(expectedText, text);
        Assert.Equal(expectedHash, hash);

        // And fp16 rounding moves the float32 result only a little.
        var full = Embed(TinyReference.WeightsPath("weights.safetensors"), out var fullText, out _);
        var drift = Math.Max(TinyParityTests.MaxAbs(full, video), TinyParityTests.MaxAbs(fullText, text));
        output.WriteLine($"fp16 TorchScript vs float32 safetensors: max |diff| = {drift:E3}");
        Assert.True(drift is > 0 and < 2e-2f, $"fp16 drift {drift}");
    }

    [Fact]
    public void A_bf16_state_dict_gives_the_embeddings_of_its_values_widened_by_torch()
    {
        using (var f = TensorFileOpener.Open(files["tempme_bf16.pt"]))
        {
            Assert.Equal("BF16", f.Find("visual.conv1.weight")!.DType);
        }

        var expected = Embed(files["bf16_widened.safetensors"], out var expectedText, out var expectedHash);
        Assert.Equal(expected, Embed(files["tempme_bf16.pt"], out var text, out var hash));
        Assert.Equal(expectedText, text);
        Assert.Equal(expectedHash, hash);
        Assert.NotEqual(Embed(TinyReference.WeightsPath("weights.safetensors"), out _, out _), expected);
    }

    [Fact]
    public void Views_of_one_shared_storage_strided_and_tied_read_as_their_values()
    {
        using (var views = TensorFileOpener.Open(files["views.pth"]))
        using (var plain = SafeTensorsFile.Open(TinyReference.WeightsPath("weights.safetensors")))
        {
            foreach (var name in plain.Tensors.Keys)
            {
                Assert.Equal(plain.ReadFloat32(name), views.ReadFloat32(name));
            }

            Assert.Equal(plain.ReadFloat32("text_projection"), views.ReadFloat32("tied.text_projection"));
        }

        var reference = Embed(TinyReference.WeightsPath("weights.safetensors"), out var refText, out var refHash);
        Assert.Equal(reference, Embed(files["views.pth"], out var text, out var hash));
        Assert.Equal(refText, text);
        Assert.Equal(refHash, hash);
    }

    [Fact]
    public void Convert_checkpoint_writes_the_same_tensors_as_safetensors()
    {
        var outPath = Path.Combine(_dir, "openai.safetensors");
        var count = CheckpointConverter.Convert(files["openai_fp16.pt"], outPath);
        using (var pt = TensorFileOpener.Open(files["openai_fp16.pt"]))
        using (var st = SafeTensorsFile.Open(outPath))
        {
            Assert.Equal(pt.Tensors.Count, count);
            Assert.Equal(pt.Tensors.Keys.Order(StringComparer.Ordinal), st.Tensors.Keys.Order(StringComparer.Ordinal));
            foreach (var name in pt.Tensors.Keys)
            {
                Assert.Equal("F16", st.Find(name)!.DType);
                Assert.Equal(pt.Find(name)!.Shape, st.Find(name)!.Shape);
                Assert.Equal(pt.ReadContiguousBytes(name), st.ReadContiguousBytes(name));
            }
        }

        Assert.Equal(Embed(files["openai_fp16.pt"], out var t1, out _), Embed(outPath, out var t2, out _));
        Assert.Equal(t1, t2);

        // Strided views come out contiguous, with the reference values.
        var viewsOut = Path.Combine(_dir, "views.safetensors");
        CheckpointConverter.Convert(files["views.pth"], viewsOut);
        using var converted = SafeTensorsFile.Open(viewsOut);
        using var plain = SafeTensorsFile.Open(TinyReference.WeightsPath("weights.safetensors"));
        Assert.Equal(plain.ReadFloat32("text_projection"), converted.ReadFloat32("text_projection"));
        Assert.Equal(plain.ReadFloat32("visual.conv1.weight"), converted.ReadFloat32("visual.conv1.weight"));

        Assert.Contains(".safetensors", Assert.Throws<ModelLoadException>(() => CheckpointConverter.Convert(files["views.pth"], Path.Combine(_dir, "x.pt"))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hostile_system.pt", "posix.system", "pwned_system")]
    [InlineData("hostile_eval.pt", "builtins.eval", "pwned_eval")]
    public void A_pickle_calling_a_global_is_refused_naming_it_and_nothing_runs(string file, string global, string marker)
    {
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(files[file], 12, TinyReference.Options(), null));
        output.WriteLine(ex.Message);
        Assert.Contains($"refused: the checkpoint's pickle names the global '{global}'", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(files[marker]), $"{marker} exists: the payload ran");
    }

    [Fact]
    public void A_storage_offset_past_the_end_is_refused()
    {
        // The same hand-made file with offset 0 reads: only the offset makes the other one bad.
        using (var ok = TensorFileOpener.Open(files["offset_ok.pt"]))
        {
            Assert.Equal(new[] { 1f, 2f, 3f, 4f }, ok.ReadFloat32("visual.conv1.weight"));
        }

        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_offset.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains("reaches element 1003 (storage offset 1000), past the end of the storage's 4 elements", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_storage_claiming_more_elements_than_its_entry_holds_is_refused()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_numel.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains("storage '0' declares 1073741824 F32 elements (4294967296 bytes) but its archive entry holds 16 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pickle_making_millions_of_values_is_refused()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_values.pt"]));
        Assert.Contains($"its pickle creates more than {RestrictedUnpickler.MaxValues} values", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pickle_memoizing_millions_of_times_is_refused()
    {
        // One NONE and 2,000,001 MEMOIZE bytes: nothing is pushed, only the memo grows.
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_memo.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains($"its pickle stores more than {RestrictedUnpickler.MaxValues} memo entries", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chain_of_dicts_sharing_the_one_below_is_refused_instead_of_walked_two_to_the_64_times()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_shared.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains($"walking its dicts takes more than {TensorTreeWalker.MaxWalkSteps} steps", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_tensor_under_many_long_names_is_refused()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_names.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains($"its tensor names hold more than {TensorTreeWalker.MaxNameChars} characters together", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dict_of_integer_keys_with_one_folded_hash_reads_without_a_quadratic_scan()
    {
        // 900,000 keys k * (2^32 + 1), which long.GetHashCode maps to 0: with that hash the load never finishes.
        using var file = TensorFileOpener.Open(files["hostile_hash.pt"]);
        var name = (900_000L * ((1L << 32) + 1)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal([name], file.Tensors.Keys);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, file.ReadFloat32(name));
    }

    [Fact]
    public void A_tensor_path_longer_than_the_cap_is_refused()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_long_name.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains($"a tensor path longer than {TensorTreeWalker.MaxNameLength} characters", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_zip_entry_larger_than_declared_is_refused()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(files["hostile_entry_size.pt"]));
        output.WriteLine(ex.Message);
        Assert.Contains("archive/data.pkl holds other bytes than the 16 its header declares (their CRC-32 does not match: the entry is larger than declared", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_legacy_torch_save_is_refused_with_how_to_resave_it()
    {
        var ex = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create(files["legacy.pt"], 12, TinyReference.Options(), null));
        Assert.Contains("legacy", ex.Message, StringComparison.Ordinal);
        Assert.Contains("torch.save(torch.load('legacy.pt', map_location='cpu'), 'model.pt')", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_checkpoints_are_refused_at_every_length_without_a_crash()
    {
        // Every prefix of a small real checkpoint: a clear ModelLoadException each time, never another exception.
        var bytes = File.ReadAllBytes(files["offset_ok.pt"]);
        var path = Path.Combine(_dir, "cut.pt");
        for (var n = 0; n < bytes.Length; n++)
        {
            File.WriteAllBytes(path, bytes[..n]);
            var ex = Assert.Throws<ModelLoadException>(() => TensorFileOpener.Open(path).Dispose());
            Assert.StartsWith(path + ":", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Corrupted_checkpoints_are_refused_or_read_but_never_crash()
    {
        // Seeded byte changes all over small real archives (a zip torch.save with a pickle and a storage).
        var sources = new[] { File.ReadAllBytes(files["offset_ok.pt"]), File.ReadAllBytes(files["hostile_entry_size.pt"]) };
        var random = new Random(15);
        var path = Path.Combine(_dir, "fuzz.pt");
        var refused = 0;
        for (var round = 0; round < 6000; round++)
        {
            var bytes = (byte[])sources[round % 2].Clone();
            for (var k = random.Next(1, 4); k > 0; k--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = TensorFileOpener.Open(path);
                foreach (var name in file.Tensors.Keys)
                {
                    file.ReadContiguousBytes(name);
                }
            }
            catch (ModelLoadException e)
            {
                Assert.StartsWith(path + ":", e.Message, StringComparison.Ordinal);
                refused++;
            }
        }

        output.WriteLine($"{refused} of 6000 corrupted files refused, the rest read");
        Assert.True(refused > 0);
    }

    [Fact]
    public void A_checkpoint_folder_goes_through_the_model_roots()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "models")).FullName;
        var inside = Directory.CreateDirectory(Path.Combine(root, "tempme")).FullName;
        File.Copy(Path.Combine(files["tempme"], "pytorch_model.bin"), Path.Combine(inside, "pytorch_model.bin"));
        var roots = new ModelRoots([root]);
        Assert.Equal(Path.Combine(inside, "pytorch_model.bin"), roots.ResolveCheckpoint(inside));

        // A link inside the root to a checkpoint outside it is refused.
        File.CreateSymbolicLink(Path.Combine(root, "outside.pt"), files["openai_fp16.pt"]);
        Assert.Contains("outside the model roots", Assert.Throws<ModelLoadException>(() => roots.ResolveCheckpoint(Path.Combine(root, "outside.pt"))).Message, StringComparison.Ordinal);
    }

    private static float[] Embed(string spec, out float[] text, out string hash) => Embed(spec, out text, out hash, out _);

    private static float[] Embed(string spec, out float[] text, out string hash, out string source)
    {
        var enc = EncoderFactory.Create(spec, 12, TinyReference.Options(), null);
        var e = new float[64];
        enc.EncodeVideos(TinyReference.Video, 2, e);
        text = new float[96];
        enc.EncodeTexts(TinyReference.TextIds, TinyReference.TextMask, 3, 32, text);
        hash = enc.Weights.WeightsHash;
        source = enc.Weights.Source;
        return e;
    }
}
