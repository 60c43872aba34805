#!/usr/bin/env python3
"""Parity of full-size torchvision exports: FovEx against onnxruntime, with PyPI onnx's checker.

For each model (default: the 19 classifiers below) and opset (default 13 and 17; --opsets 7,...,28), in a
temporary directory that is deleted afterwards (the files are 10–550 MB):
  1. export   (Debian's PyTorch 1.13 / torchvision 0.14, /usr/bin/python3): random weights, eval mode,
              torch.onnx.export of a fixed random input; writes NAME-opsetK.onnx and NAME-opsetK.safetensors
              with `input` and `torch_logits`. PyTorch 1.13 exports opsets 7 to 17;
  2. check    (PyPI onnx and onnxruntime, `python3`): opsets 18 and later are made from the opset-17 export by
              onnx's version converter (as a user upgrading a file would); then onnx.checker.check_model (full
              check) and onnxruntime's CPU logits on the same input, added to the .safetensors as `ort_logits`;
  3. FovEx    the Swift test ONNXFullSizeParityTests with FOVEX_ONNX_PARITY_DIR set (build the tests first:
              swift build -c release -Xswiftc -enable-testing --build-tests), which writes fovex-results.jsonl;
then prints one line per export: checker result, max |FovEx − onnxruntime| / max |onnxruntime|, the same
against PyTorch, and onnxruntime against PyTorch.

    python3 tools/onnx_parity_full.py [--opsets 11,12,14] [--exporter torchscript|dynamo] [MODEL ...]
--exporter dynamo exports with PyTorch 2's default exporter instead, as `torch.onnx.export(model, (x,), path,
dynamo=True, opset_version=K)` writes it (weights as external data beside the file, a fixed batch of 1), at
opsets from 18 (default: 18 and 20); TORCH_PYTHON must then name a Python with PyTorch 2 (≥ 2.5) and onnxscript, and the check stage
runs under the interpreter that runs this script (PyPI onnx and onnxruntime).
A MODEL named timm:NAME is timm's NAME (PyPI timm 0.9, random weights, its default input size) instead of a
torchvision model; the files are then called timm-NAME-opsetK.
The stages run as `python3 tools/onnx_parity_full.py --stage export|check DIR MODEL OPSETS` under the right
interpreter (set TORCH_PYTHON to use another one than /usr/bin/python3).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from fixture_io import float32_bytes  # tools/ is on sys.path when a script runs

MODELS = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_small",
          "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "densenet121",
          "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0", "googlenet", "inception_v3", "convnext_tiny",
          "vit_b_16", "swin_t"]
OPSETS = (13, 17)
# The newest opset PyTorch 1.13 exports; later ones are converted from that export.
EXPORTED_MAX = 17
# The newest opset FovEx reads (ONNXProgram.supportedOpsets).
HIGHEST = 28
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def write_safetensors(path, tensors):
    """tensors: name -> (shape, little-endian float32 bytes)."""
    header, offset, blobs = {}, 0, []
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    return {k: (v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def stem_of(name):
    """The file name's stem for a model: timm:NAME becomes timm-NAME."""
    return name.replace(":", "-")


def export(directory, name, opsets, exporter="torchscript"):
    import torch
    import torchvision
    torch.manual_seed(0)
    if name.startswith("timm:"):
        import timm
        model = timm.create_model(name[len("timm:"):], pretrained=False).eval()
        size = model.pretrained_cfg.get("input_size", (3, 224, 224))[1]
    else:
        kwargs = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
        model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
        size = 299 if name == "inception_v3" else 224
    # Some heads start at zero (vit_b_16's), which would make every logit 0 and the comparison empty.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and not module.weight.any():
                module.weight.normal_(0, 0.02)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = model(x)
    # PyTorch 1.13 exports up to EXPORTED_MAX (check() converts the file to later opsets); PyTorch 2 exports each.
    exported = sorted(opsets) if exporter == "dynamo" else sorted({min(o, EXPORTED_MAX) for o in opsets})
    for opset in exported:
        stem = os.path.join(directory, f"{stem_of(name)}-opset{opset}")
        if exporter == "dynamo":
            torch.onnx.export(model, (x,), stem + ".onnx", dynamo=True, opset_version=opset)
        else:
            torch.onnx.export(model, x, stem + ".onnx", opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        write_safetensors(stem + ".safetensors", {
            "input": (tuple(x.shape), float32_bytes(x)),
            "torch_logits": (tuple(logits.shape), float32_bytes(logits))})


def check(directory, name, opsets, exporter="torchscript"):
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import version_converter
    results = {}
    exported = os.path.join(directory, f"{stem_of(name)}-opset{EXPORTED_MAX}")
    for opset in sorted(o for o in opsets if o > EXPORTED_MAX and exporter == "torchscript"):
        stem = os.path.join(directory, f"{stem_of(name)}-opset{opset}")
        try:
            onnx.save(version_converter.convert_version(onnx.load(exported + ".onnx"), opset), stem + ".onnx")
            shutil.copy(exported + ".safetensors", stem + ".safetensors")
        except Exception as e:  # a converter without an adapter for some op: reported, not run
            results[f"{stem_of(name)}-opset{opset}"] = {"refused": "conversion failed: " + str(e).splitlines()[0][:100]}
    if exporter == "torchscript" and EXPORTED_MAX not in opsets and os.path.exists(exported + ".onnx"):
        os.remove(exported + ".onnx")
        os.remove(exported + ".safetensors")
    for opset in sorted(opsets):
        stem = os.path.join(directory, f"{stem_of(name)}-opset{opset}")
        if not os.path.exists(stem + ".onnx"):
            continue
        try:
            onnx.checker.check_model(stem + ".onnx", full_check=True)
            verdict = "ok"
        except Exception as e:  # the checker's complaint is the result
            verdict = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        tensors = read_safetensors(stem + ".safetensors")
        shape, data = tensors["input"]
        x = np.frombuffer(data, dtype="<f4").reshape(shape)
        session = onnxruntime.InferenceSession(stem + ".onnx", providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: x})[0].astype("<f4")
        tensors["ort_logits"] = (logits.shape, logits.tobytes())
        write_safetensors(stem + ".safetensors", tensors)
        files = [f for f in (stem + ".onnx", stem + ".onnx.data") if os.path.exists(f)]  # with external data
        results[f"{stem_of(name)}-opset{opset}"] = {"checker": verdict, "onnx_bytes": sum(map(os.path.getsize, files))}
    with open(os.path.join(directory, "check-results.json"), "w") as f:
        json.dump(results, f)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--stage":
        stage, directory, name, opsets, exporter = sys.argv[2:7]
        {"export": export, "check": check}[stage](directory, name, [int(o) for o in opsets.split(",")], exporter)
        return
    args = sys.argv[1:]
    opsets, exporter = None, "torchscript"
    while args[:1] in (["--opsets"], ["--exporter"]):
        if args[0] == "--opsets":
            opsets = [int(o) for o in args[1].split(",")]
        else:
            exporter = args[1]
        args = args[2:]
    if exporter not in ("torchscript", "dynamo"):
        sys.exit(f"--exporter: {exporter} is neither torchscript nor dynamo")
    lowest = 18 if exporter == "dynamo" else 7
    opsets = opsets or ([18, 20] if exporter == "dynamo" else list(OPSETS))
    if not all(lowest <= o <= HIGHEST for o in opsets):
        sys.exit(f"--opsets: {opsets} must lie in {lowest}...{HIGHEST} for the {exporter} exporter")
    models = args or MODELS
    unknown = [m for m in models if m not in MODELS and not m.startswith("timm:")]
    if unknown:
        sys.exit(f"unknown models {unknown}; choose from {MODELS}")
    torch_python = os.environ.get("TORCH_PYTHON", "/usr/bin/python3")
    print(f"{'export':<28} {'checker':<8} {'FovEx vs ORT':>13} {'FovEx vs torch':>15} {'ORT vs torch':>13} {'MB':>6}")
    for name in models:
        directory = tempfile.mkdtemp(prefix=f"onnx-parity-{stem_of(name)}-")
        try:
            listed = ",".join(map(str, opsets))
            exported = subprocess.run([torch_python, __file__, "--stage", "export", directory, name, listed, exporter],
                                      capture_output=True, text=True)
            if exported.returncode != 0:  # the exporter's own failure is the result for this model
                lines = exported.stderr.strip().splitlines() or ["no message"]
                last = next((l for l in reversed(lines) if "Error" in l or "Exception" in l), lines[-1])
                print(f"{stem_of(name):<28} export failed: {last[:160]}", flush=True)
                continue
            subprocess.run([sys.executable, __file__, "--stage", "check", directory, name, listed, exporter], check=True)
            report(directory, json.load(open(os.path.join(directory, "check-results.json"))), width=28)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def report(directory, checks, width):
    """Runs FovEx's side (ONNXFullSizeParityTests) on the .onnx files in `directory` and prints one line per entry of
    `checks` (export name → {"checker", "onnx_bytes"}, or {"refused": why} for a file that was not made or not run):
    the checker's verdict and the three relative distances, or why there are none."""
    fovex, errors = {}, []
    if any(f.endswith(".onnx") for f in os.listdir(directory)):
        env = dict(os.environ, FOVEX_NATIVE="1", FOVEX_ONNX_PARITY_DIR=directory)
        swift = subprocess.run(["swift", "test", "-c", "release", "-Xswiftc", "-enable-testing", "--skip-build",
                                "--filter", "ONNXFullSizeParityTests"], cwd=ROOT, env=env, capture_output=True, text=True)
        errors = [l for l in swift.stdout.splitlines() if "error" in l][:3]
        results = os.path.join(directory, "fovex-results.jsonl")
        if os.path.exists(results):
            for line in filter(str.strip, open(results)):
                r = json.loads(line)
                fovex[r["model"]] = r
    for key, c in checks.items():
        if "refused" in c:
            print(f"{key:<{width}} {c['refused']}", flush=True)
            continue
        r = fovex.get(key)
        if r is None:
            print(f"{key:<{width}} {c['checker']:<8} FovEx failed: {' | '.join(errors)}", flush=True)
            continue
        print(f"{key:<{width}} {c['checker']:<8} {r['fovex_vs_ort']:>13.2e} {r['fovex_vs_torch']:>15.2e} "
              f"{r['ort_vs_torch']:>13.2e} {c['onnx_bytes'] / 1e6:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
