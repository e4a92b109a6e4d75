# Writes the PyTorch checkpoints the encoder tests load, from the tiny reference weights (float32 safetensors).
# Usage: python3 make_checkpoints.py WEIGHTS.safetensors OUT_DIR
# Run by the test set-up with Debian's python3-torch (CPU torch 1.13).
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

src, out = sys.argv[1], sys.argv[2]


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    d = collections.OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        b, en = e["data_offsets"]
        d[name] = torch.frombuffer(bytearray(data[b:en]), dtype=torch.float32).reshape(e["shape"]).clone()
    return d


sd = load_safetensors(src)

# 1. The authors' fine-tune layout: a zip torch.save state dict, names under clip., LoRA tensors kept.
os.makedirs(os.path.join(out, "tempme"), exist_ok=True)
torch.save(collections.OrderedDict(("clip." + k, v) for k, v in sd.items()), os.path.join(out, "tempme", "pytorch_model.bin"))

# 2. OpenAI's layout: a TorchScript archive whose module tree gives the names, tensors in fp16.
class Bag(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


root = Bag()
for name, value in sd.items():
    *path, leaf = name.split(".")
    m = root
    for part in path:
        if not hasattr(m, part):
            m.add_module(part, Bag())
        m = getattr(m, part)
    m.register_parameter(leaf, torch.nn.Parameter(value.half(), requires_grad=False))
torch.jit.save(torch.jit.script(root), os.path.join(out, "openai_fp16.pt"))
with open(os.path.join(out, "fp16.json"), "w") as f:
    json.dump({"names": sorted(sd.keys())}, f)

# 2b. bf16: a zip torch.save in bfloat16, and beside it the same bf16 values widened to float32 (safetensors, by hand).
bf16 = collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items())
torch.save(bf16, os.path.join(out, "tempme_bf16.pt"))
header, blobs, at = {}, [], 0
for k, v in bf16.items():
    raw = v.float().contiguous().numpy().tobytes()
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
    blobs.append(raw)
    at += len(raw)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(os.path.join(out, "bf16_widened.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

# 3. Views: every tensor a slice of one shared storage, 2-D ones as transposed (strided) views, one tied alias.
total = sum(v.numel() for v in sd.values())
flat = torch.zeros(total)
views = collections.OrderedDict()
at = 0
for name, value in sd.items():
    n = value.numel()
    if value.dim() == 2:
        r, c = value.shape
        flat[at:at + n] = value.t().contiguous().reshape(-1)
        views[name] = flat[at:at + n].view(c, r).t()
    else:
        flat[at:at + n] = value.reshape(-1)
        views[name] = flat[at:at + n].view(value.shape)
    at += n
views["tied.text_projection"] = views["text_projection"]
assert not views["text_projection"].is_contiguous()
torch.save(views, os.path.join(out, "views.pth"))


# 4. Hostile pickles: each would create its marker file if anything in it ran.
class System:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(out, "pwned_system"),))


class Eval:
    def __reduce__(self):
        return (eval, ("open(%r, 'w')" % os.path.join(out, "pwned_eval"),))


torch.save({"visual.conv1.weight": System()}, os.path.join(out, "hostile_system.pt"))
torch.save({"visual.conv1.weight": Eval()}, os.path.join(out, "hostile_eval.pt"), pickle_protocol=4)


# 5. A storage offset past the end: a hand-made pickle (torch itself refuses to make such a tensor).
class FakeStorage:
    pass


class FakeTensor:
    def __init__(self, storage, offset):
        self.storage, self.offset = storage, offset

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, self.offset, (4,), (1,), False, collections.OrderedDict()))


class Writer(pickle.Pickler):
    numel = 4

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", torch.FloatStorage, "0", "cpu", self.numel)
        return None


def crafted_zip(path, offset, compress_pickle=False, numel=4, tree=None):
    buf = io.BytesIO()
    writer = Writer(buf, protocol=2)
    writer.numel = numel
    writer.dump(tree if tree is not None else {"visual.conv1.weight": FakeTensor(FakeStorage(), offset)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED if compress_pickle else zipfile.ZIP_STORED)
        z.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
        z.writestr("archive/version", "3\n")
    return len(buf.getvalue())


crafted_zip(os.path.join(out, "offset_ok.pt"), 0)
crafted_zip(os.path.join(out, "hostile_offset.pt"), 1000)
# A storage that claims 2^30 elements (4 GiB) over its 16-byte entry: refused before anything is allocated.
crafted_zip(os.path.join(out, "hostile_numel.pt"), 0, numel=1 << 30)

# 5b. A pickle of three million empty lists (6 MB): refused once it has made too many values, not after allocating them all.
with zipfile.ZipFile(os.path.join(out, "hostile_values.pt"), "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02" + b"]0" * 3_000_000 + b"}.")
    z.writestr("archive/version", "3\n")

# Memo bombs and shared-dict walks, written as raw protocol-2 pickle bytes (pickle itself never makes these).
def raw_zip(name, pickle_bytes):
    with zipfile.ZipFile(os.path.join(out, name), "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", "3\n")


def text(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def shared_chain(k, first=0):
    # D_0 = {} in memo slot first; D_i = {"a": D_{i-1}, "b": D_{i-1}} in slot first + i, both items BINGETs of one dict.
    body = b"}q" + bytes([first])
    for i in range(1, k + 1):
        prev = bytes([first + i - 1])
        body += b"}(" + text("a") + b"h" + prev + text("b") + b"h" + prev + b"uq" + bytes([first + i])
    return body


# One NONE memoized 2,000,001 times: nothing pushed but the memo grows by one entry a byte.
raw_zip("hostile_memo.pt", b"\x80\x02N" + b"\x94" * 2_000_001 + b".")
# A chain of 64 dicts each holding the one below twice: 2^64 walks, no tensor anywhere.
raw_zip("hostile_shared.pt", b"\x80\x02" + shared_chain(64) + b".")
# One tensor (pickled once, then memo references) under 20,000 names of 4,000+ characters: 80 M characters of names.
one = FakeTensor(FakeStorage(), 0)
crafted_zip(os.path.join(out, "hostile_names.pt"), 0, tree={"k" * 4000: {"t%d" % i: one for i in range(20_000)}})
# 900,000 integer keys k * (2^32 + 1), all of which a boxed long hashes to 0, the tensor under the last one.
colliding = dict.fromkeys((k * ((1 << 32) + 1) for k in range(1, 900_000)))
colliding[900_000 * ((1 << 32) + 1)] = one
crafted_zip(os.path.join(out, "hostile_hash.pt"), 0, tree=colliding)
# A tensor under a 5,000-character key.
crafted_zip(os.path.join(out, "hostile_long_name.pt"), 0, tree={"k" * 5000: one})


# 6. A zip entry larger than declared: data.pkl (deflated) with both of its size fields patched to 16 bytes.
path = os.path.join(out, "hostile_entry_size.pt")
real = crafted_zip(path, 0, compress_pickle=True)
blob = bytearray(open(path, "rb").read())
patched = 0
for sig, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    i = blob.find(sig)
    while i >= 0:
        name_at = i + (30 if sig == b"PK\x03\x04" else 46)
        if blob[name_at:name_at + 16] == b"archive/data.pkl":
            assert struct.unpack_from("<I", blob, i + field)[0] == real
            struct.pack_into("<I", blob, i + field, 16)
            patched += 1
        i = blob.find(sig, i + 4)
assert patched == 2, patched
open(path, "wb").write(bytes(blob))

# 7. Legacy (non-zip) torch.save.
torch.save(collections.OrderedDict(list(sd.items())[:2]), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
print("ok")
