#!/usr/bin/env python3
"""onnxruntime's forward by kind of kernel, from its own profiler: the peer of onednn_time.py.

Runs the bench models' ONNX exports (compare.py saves them under .build/bench-models) at batch 1
with 2 intra-op threads, as compare.py's peer does, and sums the median time of each node over the
last 15 of 25 runs by kind: convolutions by kernel size and grouping (fused or not), then the other
operators. Comparing the two scripts' kinds shows which kernels a gap between Loupe and
onnxruntime comes from.

    python3 Tools/bench/ort_time.py --models efficientnet_b0,regnet_y_400mf

Needs: pip install onnxruntime numpy
"""
import argparse
import collections
import json
import os
import statistics
import tempfile

import numpy as np
import onnxruntime

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, ".build", "bench-models")


def kind(arguments):
    """A node's kind: a convolution by its weight's kernel and grouping, else its operator."""
    operator = arguments["op_name"]
    if operator not in ("Conv", "FusedConv"):
        return operator
    shapes = [list(entry.values())[0] for entry in arguments.get("input_type_shape", [])]
    (_, channels, _, _), (_, group_inputs, height, width) = shapes[0], shapes[1]
    grouping = "" if group_inputs == channels else " depthwise" if group_inputs == 1 else " grouped"
    return f"conv {height}x{width}{grouping} ({operator})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,regnet_y_400mf,resnext50_32x4d")
    arguments = parser.parse_args()
    image = np.load(os.path.join(MODELS, "input.npy"))[:1].astype(np.float32)
    for arch in arguments.models.split(","):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
        session = onnxruntime.InferenceSession(os.path.join(MODELS, f"{arch}.onnx"), options,
                                               providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(25):
            session.run(None, {name: image})
        events = json.load(open(session.end_profiling()))
        runs = [event["dur"] for event in events if event.get("cat") == "Session" and event["name"] == "model_run"]
        nodes = [event for event in events if event.get("cat") == "Node" and event["name"].endswith("_kernel_time")]
        times, kinds = collections.defaultdict(list), {}
        for node in nodes:
            times[node["name"]].append(node["dur"])
            kinds[node["name"]] = kind(node["args"])
        by_kind = collections.Counter()
        for node, durations in times.items():
            by_kind[kinds[node]] += statistics.median(durations[-15:]) / 1000
        print(f"\n{arch}: forward {statistics.median(runs[-15:]) / 1000:.3f} ms (profiled), "
              f"in kernels {sum(by_kind.values()):.3f} ms; median ms a forward by kind:")
        for name, total in by_kind.most_common():
            print(f"  {total:8.3f}  {name}")


if __name__ == "__main__":
    main()
