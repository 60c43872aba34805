"""The safetensors writer shared by the fixture scripts under tools/ (float32 tensors only).

Format: u64 little-endian header length, a JSON header padded with spaces to a multiple of 8 bytes (so the
data stays 8-byte aligned, as the reference writer keeps it), then the raw little-endian float32 data in
the order the tensors are given. Accepts torch tensors and numpy arrays.
"""
import json
import struct

import numpy as np


def float32_bytes(t):
    """Little-endian float32 bytes of a torch tensor or numpy array. Torch tensors do not go through torch's NumPy
    bridge, which is absent when PyPI's NumPy 2 shadows the Debian NumPy that Debian's PyTorch was built against."""
    if hasattr(t, "detach"):  # a torch tensor
        t = t.detach().to(dtype=__import__("torch").float32).contiguous().view(-1)
        return struct.pack(f"<{t.numel()}f", *t.tolist())
    return np.ascontiguousarray(t, dtype="<f4").tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name → tensor, in this order) to `path`, with `metadata` as `__metadata__` if given."""
    header = {} if metadata is None else {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = float32_bytes(t)
        header[name] = {"dtype": "F32", "shape": list(np.shape(t)), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
