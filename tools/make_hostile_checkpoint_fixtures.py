#!/usr/bin/python3
"""Writes the hostile and edge-case checkpoint fixtures of issue 14 into Tests/FovExCheckpointsTests/Fixtures.

Standard library only (plus numpy through fixture_io for the plain safetensors file). Run from the package root:

    python3 tools/make_hostile_checkpoint_fixtures.py

Files written (all small, byte-identical between runs):
  nested_tuples.pt          a zip checkpoint whose archive/data.pkl is PROTO 2, EMPTY_TUPLE, 50,000 × TUPLE1, STOP
                            (freeing such a value recursively overflows the stack)
  header_0x80.safetensors   a valid safetensors file whose header length is 0x80 + 256·k bytes, so its first byte
                            and the next are the pickle opcode PROTO 2
  overlapping.safetensors   two tensors whose data_offsets overlap ([0, 16] and [8, 24])
  nan_weight.safetensors    'fc.weight' holds a NaN and an infinity; 'fc.bias' is finite
"""
import json
import os
import struct
import zipfile

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "FovExCheckpointsTests", "Fixtures")


def raw_safetensors(path, header, payload, header_length=None):
    """Writes `header` (a dict) padded with spaces to `header_length` bytes (or a multiple of 8), then `payload`."""
    head = json.dumps(header, separators=(",", ":")).encode()
    target = header_length if header_length is not None else len(head) + (-len(head) % 8)
    assert len(head) <= target
    head += b" " * (target - len(head))
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + payload)


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def main():
    # Nested tuples inside a stored zip, as torch.save lays out a checkpoint.
    pickle = b"\x80\x02)" + b"\x85" * 50000 + b"."
    with zipfile.ZipFile(os.path.join(OUT, "nested_tuples.pt"), "w", zipfile.ZIP_STORED) as z:
        for name, data in [("archive/data.pkl", pickle), ("archive/byteorder", b"little"), ("archive/version", b"3\n")]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)

    # Header length 0x280: first bytes 0x80 0x02, the PROTO 2 opcode of a pickle.
    weight = [0.5, -1.25, 2.0, 3.5, -0.125, 7.0]
    header = {"__metadata__": {"format": "pt"},
              "fc.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "fc.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}
    raw_safetensors(os.path.join(OUT, "header_0x80.safetensors"), header, floats(weight + [1.0, -2.0]),
                    header_length=0x280)

    header = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
              "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}
    raw_safetensors(os.path.join(OUT, "overlapping.safetensors"), header, floats([1, 2, 3, 4, 5, 6]))

    header = {"fc.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "fc.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}
    raw_safetensors(os.path.join(OUT, "nan_weight.safetensors"), header,
                    floats([0.5, 0.25, 1.0, float("nan"), 2.0, float("inf")]))


if __name__ == "__main__":
    main()
