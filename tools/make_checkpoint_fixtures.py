#!/usr/bin/python3
"""Writes the small checkpoint fixtures for Tests/FovExCheckpointsTests/Fixtures.

Needs: PyTorch (Debian's python3-torch; run with /usr/bin/python3). Nothing else: safetensors and the
hand-made pickles/zips are written with the standard library. Run from the package root:

    /usr/bin/python3 tools/make_checkpoint_fixtures.py

Files written (all tiny):
  state_zip.pt          torch.save of the reference state dict, zip format
  state_legacy.pt       the same with _use_new_zipfile_serialization=False (pre-1.6 format)
  state.safetensors     the same tensors in their own dtypes (a pure-Python safetensors writer)
  wrapped_zip.pt        {"epoch": 3, "state_dict": {"module.<name>": tensor}} in zip format
  wrapped_legacy.pt     {"model": {"module.<name>": tensor}, "arch": "tiny"} in legacy format
  forbidden.pkl         protocol-2 pickle calling os.system (bytes built by hand; never unpickled here)
  forbidden_zip.pt      a zip checkpoint whose data.pkl is that pickle
  deflated.zip          a zip checkpoint whose entries are deflate-compressed
  zip64.zip             a hand-built zip whose central directory uses zip64 extra fields
  expected.json         {name: {"shape": [...], "dtype": "F32"|..., "values": [float32 values, row-major]}}

Every file is byte-identical between runs except the legacy ones, whose storage keys are memory addresses.
"""
import collections
import io
import json
import os
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExCheckpointsTests", "Fixtures")

SAFETENSORS_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32",
}


def reference_state_dict():
    g = torch.Generator().manual_seed(20240917)
    base = torch.randn(20, generator=g)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["conv.bias"] = torch.randn(4, generator=g)
    # Non-contiguous: a transpose keeps the [5, 4] storage with strides (1, 4).
    sd["fc.weight_t"] = torch.randn(5, 4, generator=g).t()
    # Two tensors sharing one storage, the second a reshaped view starting at element 6.
    sd["shared.base"] = base
    sd["shared.view"] = base[6:18].view(3, 4)
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["half.weight"] = torch.randn(2, 3, generator=g).half()
    sd["bf16.weight"] = torch.randn(3, generator=g).bfloat16()
    sd["double.weight"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["int32.index"] = torch.arange(-2, 3, dtype=torch.int32)
    sd["param.weight"] = torch.nn.Parameter(torch.randn(3, generator=g))
    return sd


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, sd):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in sd.items():
        b = raw_bytes(t)
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def forbidden_pickle():
    # PROTO 2; GLOBAL 'os system'; BINUNICODE 'echo pwned'; TUPLE1; REDUCE; STOP.
    arg = b"echo pwned"
    return b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(arg)) + arg + b"\x85R."


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            # A fixed timestamp keeps the bytes identical from run to run.
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=compression)


def write_zip64(path):
    """One stored entry 'z64/hello.txt'; the central directory and end records use zip64 forms."""
    name, data = b"z64/hello.txt", b"hello zip64"
    crc = zipfile.crc32(data)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name
    extra = struct.pack("<HHQQQ", 0x0001, 24, len(data), len(data), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                          len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + name + extra
    cd_offset = len(local) + len(data)
    eocd64_offset = cd_offset + len(central)
    eocd64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(local + data + central + eocd64 + locator + eocd)


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = reference_state_dict()
    torch.save(sd, os.path.join(OUT, "state_zip.pt"))
    torch.save(sd, os.path.join(OUT, "state_legacy.pt"), _use_new_zipfile_serialization=False)
    write_safetensors(os.path.join(OUT, "state.safetensors"), sd)

    prefixed = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    torch.save({"epoch": 3, "state_dict": prefixed}, os.path.join(OUT, "wrapped_zip.pt"))
    torch.save({"model": prefixed, "arch": "tiny"}, os.path.join(OUT, "wrapped_legacy.pt"),
               _use_new_zipfile_serialization=False)

    bad = forbidden_pickle()
    with open(os.path.join(OUT, "forbidden.pkl"), "wb") as f:
        f.write(bad)
    write_zip(os.path.join(OUT, "forbidden_zip.pt"), [("forbidden_zip/data.pkl", bad), ("forbidden_zip/version", b"3\n")])

    buf = io.BytesIO()
    torch.save(collections.OrderedDict(w=torch.zeros(64)), buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = [("deflated/" + n.split("/", 1)[1], z.read(n)) for n in z.namelist()]
    write_zip(os.path.join(OUT, "deflated.zip"), entries, zipfile.ZIP_DEFLATED)
    write_zip64(os.path.join(OUT, "zip64.zip"))

    expected = collections.OrderedDict()
    for name, t in sd.items():
        expected[name] = {"shape": list(t.shape), "dtype": SAFETENSORS_DTYPES[t.dtype],
                          "values": [float(v) for v in t.detach().float().contiguous().flatten().tolist()]}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
