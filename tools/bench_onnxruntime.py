#!/usr/bin/env python3
"""onnxruntime's side of `fovex bench models --model FILE.onnx`: ms per image of the CPU forward pass of an ONNX
classifier, with the thread count `fovex` uses.

Needs PyPI's onnxruntime and numpy (not Debian's python3; `fovex` runs this with `python3` from PATH, or
--ort-python). `fovex` calls it once per interleaved round, between its own timings; by hand:

    python3 tools/bench_onnxruntime.py --model resnet50.onnx --size 224 --batches 1,8 --threads 2

Session: CPUExecutionProvider, all graph optimisations, sequential execution, intra-op threads = --threads,
inter-op threads 1. Input: uniform [0, 1) noise (the graph's own normalisation is not part of an ONNX file, so
onnxruntime times the graph alone). One warm-up run per batch size, then the median of --repeats timed runs.
A batch size the graph cannot take (an export with a fixed batch) is left out of the result.

Prints one JSON document on stdout: {"onnxruntime": version, "threads": n, "rows": [{"batch", "mode",
"ms_per_image"}]}.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", default="1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    generator = np.random.default_rng(0)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        x = generator.random((batch, 3, args.size, args.size), dtype=np.float32)
        try:
            session.run(None, {name: x})
        except Exception as error:  # a fixed-batch export: this batch size does not apply
            print(f"batch {batch} skipped: {error}", file=sys.stderr)
            continue
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            session.run(None, {name: x})
            times.append(time.perf_counter() - start)
        rows.append({"batch": batch, "mode": "forward", "ms_per_image": statistics.median(times) * 1000 / batch})
    print(json.dumps({"onnxruntime": ort.__version__, "threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
