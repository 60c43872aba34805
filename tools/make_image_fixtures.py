#!/usr/bin/env python3
"""Writes the small image fixtures of Tests/FovExImagingTests/Fixtures with PIL (and PyTorch for the
bilinear reference), so the Swift decoders are checked against independent implementations.

- JPEGs PIL writes that TurboJPEG encoding in the tests cannot make: grayscale and (Adobe-inverted)
  CMYK, each with `<name>.expected.png`: PIL's own decode as 8-bit RGB.
- PNGs of every colour type with transparency, 1/4/8/16-bit, with `<name>.on-white.png` and
  `<name>.on-black.png`: the pixels composited by PIL (8-bit) or numpy (16-bit, scaled to 8 bits by
  rounding v·255/65535) onto white and black, as 8-bit RGB.
- bilinear.json: torch.nn.functional.interpolate(bilinear, align_corners=False) of small maps.
- samples.json: size and per-channel mean (PIL decode) of the CC0 photos in shared/data/samples,
  when that folder is present (FOVEX_DATA, default ../shared/data).

Usage: /usr/bin/python3 tools/make_image_fixtures.py
"""
import json
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "FovExImagingTests", "Fixtures")
W, H = 16, 12
rng = np.random.default_rng(7)


def path(name):
    return os.path.join(OUT, name)


def rgb_pattern():
    y, x = np.mgrid[0:H, 0:W]
    r = x * 255 // (W - 1)
    g = y * 255 // (H - 1)
    b = (x + y) * 255 // (W + H - 2)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def alpha_pattern():
    # Opaque, transparent and partial alpha all occur.
    a = (np.arange(W * H).reshape(H, W) * 37) % 256
    a[0, 0], a[0, 1] = 255, 0
    return a.astype(np.uint8)


def save_composites(name, rgba8):
    """rgba8: H×W×4 uint8 straight (non-premultiplied) alpha."""
    rgba = Image.fromarray(rgba8, "RGBA")
    for bg_name, bg in (("white", (255, 255, 255, 255)), ("black", (0, 0, 0, 255))):
        base = Image.new("RGBA", rgba.size, bg)
        Image.alpha_composite(base, rgba).convert("RGB").save(path(f"{name}.on-{bg_name}.png"))


def write_png16(name, array, color_type):
    """A 16-bit PNG written by hand (PIL cannot write 16-bit colour): no gamma chunks."""
    h, w = array.shape[:2]
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path(name), "wb") as f:
        f.write(png)


def to8(v16):
    return np.floor(v16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)


def jpegs():
    gray = Image.fromarray(rgb_pattern()[:, :, 0] // 2 + rgb_pattern()[:, :, 1] // 2, "L")
    gray.save(path("gray.jpg"), quality=90)
    Image.open(path("gray.jpg")).convert("RGB").save(path("gray.expected.png"))
    cmyk = Image.fromarray(rgb_pattern(), "RGB").convert("CMYK")
    cmyk.save(path("cmyk.jpg"), quality=90)
    Image.open(path("cmyk.jpg")).convert("RGB").save(path("cmyk.expected.png"))


def pngs8():
    rgb, a = rgb_pattern(), alpha_pattern()
    rgba = np.dstack([rgb, a])
    Image.fromarray(rgba, "RGBA").save(path("rgba8.png"))
    save_composites("rgba8", rgba)

    gray = rgb[:, :, 0]
    Image.fromarray(np.dstack([gray, a]), "LA").save(path("gray-alpha8.png"))
    save_composites("gray-alpha8", np.dstack([gray, gray, gray, a]))

    # 8-bit palette with per-entry transparency (tRNS).
    palette = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
    palette_alpha = np.array([255, 0, 128, 200] * 4, dtype=np.uint8)
    index = (np.arange(W * H).reshape(H, W) * 5) % 16
    p = Image.fromarray(index.astype(np.uint8), "P")
    p.putpalette(palette.flatten().tolist())
    p.save(path("palette-trns.png"), transparency=palette_alpha.tobytes())
    save_composites("palette-trns", np.dstack([palette[index], palette_alpha[index]]))

    # 4-bit palette without transparency, and 1-bit gray.
    p4 = Image.fromarray(index.astype(np.uint8), "P")
    p4.putpalette(palette.flatten().tolist())
    p4.save(path("palette4.png"), bits=4)
    opaque = np.full((H, W), 255, np.uint8)
    save_composites("palette4", np.dstack([palette[index], opaque]))

    bits = ((np.arange(W * H).reshape(H, W) // 3) % 2 * 255).astype(np.uint8)
    Image.fromarray(bits, "L").convert("1").save(path("gray1.png"))
    save_composites("gray1", np.dstack([bits, bits, bits, opaque]))


def pngs16():
    y, x = np.mgrid[0:H, 0:W]
    gray16 = ((x * W + y) * 65535 // (W * W)).astype(np.uint16)
    Image.fromarray(gray16.astype(np.int32), "I").convert("I;16").save(path("gray16.png"))
    g8 = to8(gray16)
    opaque = np.full((H, W), 255, np.uint8)
    save_composites("gray16", np.dstack([g8, g8, g8, opaque]))

    rgb16 = rng.integers(0, 65536, size=(H, W, 3), dtype=np.uint16)
    write_png16("rgb16.png", rgb16, 2)
    save_composites("rgb16", np.dstack([to8(rgb16), opaque]))

    a16 = (alpha_pattern().astype(np.uint16) * 257)
    write_png16("rgba16.png", np.dstack([rgb16, a16]), 6)
    save_composites("rgba16", np.dstack([to8(rgb16), to8(a16)]))


def bilinear():
    cases = []
    g = torch.Generator().manual_seed(3)
    for (h, w), (oh, ow) in (((3, 4), (7, 5)), ((5, 6), (2, 3)), ((4, 4), (9, 9)), ((7, 3), (16, 11))):
        x = torch.rand(1, 1, h, w, generator=g)
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
        cases.append({"width": w, "height": h, "values": [float(v) for v in x.flatten()],
                      "outWidth": ow, "outHeight": oh, "expected": [round(float(v), 7) for v in y.flatten()]})
    with open(path("bilinear.json"), "w") as f:
        json.dump(cases, f)


def samples():
    data = os.environ.get("FOVEX_DATA", os.path.join(ROOT, "..", "shared", "data"))
    folder = os.path.join(data, "samples")
    if not os.path.isdir(folder):
        print(f"no samples at {folder}; samples.json not written")
        return
    out = {}
    for name in sorted(os.listdir(folder)):
        im = Image.open(os.path.join(folder, name)).convert("RGB")
        a = np.asarray(im).astype(np.float64)
        out[name] = {"width": im.width, "height": im.height, "mean": a.mean(axis=(0, 1)).tolist()}
    with open(path("samples.json"), "w") as f:
        json.dump(out, f, indent=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    jpegs()
    pngs8()
    pngs16()
    bilinear()
    samples()
    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
