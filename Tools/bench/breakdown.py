#!/usr/bin/env python3
"""Where Loupe's time goes on every row of the comparison table that misses its target.

Reads the table `compare.py` wrote into BENCHMARKS.md, picks the rows whose ratio misses issue
#7's target, and profiles Loupe's side of each with the same `loupe bench` command:

- a run with ONEDNN_VERBOSE=1 gives oneDNN's own time per primitive (summed over the runs and
  divided by their number; the one-run rows include building the primitives);
- a run under `perf record` (when perf is installed) splits the CPU samples of both threads into
  oneDNN's generated kernels, OpenMP waiting (a thread idle while the other works alone), Swift
  code (Loupe's elementwise loops, copies into place, bookkeeping), memory copies in libc, the
  operating system (page faults, mostly) and the rest;
- a plain run gives the wall time beside them.

    swift build -c release --product loupe
    python3 Tools/bench/compare.py            # the table first
    python3 Tools/bench/breakdown.py            # profiles of its missed rows, into BENCHMARKS.md
    python3 Tools/bench/breakdown.py --print-only --rows resnet18:saliency:1
    python3 Tools/bench/breakdown.py --isa AVX2   # the missed rows of compare.py --isa AVX2's table
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from compare import LOUPE, ROOT, WORKLOADS, markers, prepare, run_json, workload_arguments, write_between  # noqa: E402


def target(model, workload, batch, isa=None):
    """(column, limit) of the time target for a row (issue #7's; with `isa`, the every-CPU issue's:
    every forward at batch 1 within onnxruntime's time), or None where none is set."""
    if workload == "forward":
        if isa is not None and batch == 1:
            return ("ort", 1.0)
        return ("ort", 0.75) if model in ("vgg16", "resnet50") and batch == 1 else None
    if workload.startswith("occlusion"):
        return ("captum", 0.1)
    return ("captum", 0.4)


def table_rows(text, isa=None):
    """The rows of compare.py's table for `isa`; an onnxruntime ratio marked not comparable is None."""
    table_begin, table_end = markers(isa)
    block = text.split(table_begin, 1)[1].split(table_end, 1)[0]
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 11 or cells[0] in ("model", "") or cells[0].startswith("-"):
            continue
        yield {"model": cells[0], "workload": cells[1], "batch": int(cells[2]),
               "loupe time": cells[3], "captum time": cells[4],
               "captum": float(cells[5]), "ort": float(cells[7]) if cells[7] and "not" not in cells[7] else None,
               "memory": float(cells[10])}


def missed(row, isa=None):
    rule = target(row["model"], row["workload"], row["batch"], isa)
    slow = rule is not None and row[rule[0]] is not None and row[rule[0]] > rule[1]
    return slow or row["memory"] > 1


def bench_command(workdir, model, workload, batch):
    """The row's `loupe bench` command as compare.py runs it, and its number of timed runs."""
    _, method, options, _, repeat = next(w for w in WORKLOADS if w[0] == workload)
    weights, _, input_path = prepare(workdir, model)
    arguments = workload_arguments(model, input_path, method, options, batch, repeat)
    return [LOUPE, "bench", "--model", weights, "--arch", model] + arguments, int(arguments[arguments.index("--repeat") + 1])


def with_runs(command, repeat, warmup):
    start = command.index("--repeat")
    return command[:start] + ["--repeat", str(repeat), "--warmup", str(warmup)] + command[start + 4:]


def onednn_time(command, runs):
    """oneDNN's milliseconds per run, by primitive kind, and the costliest primitives.

    A row timed over repeated runs is profiled in its steady state: the difference between
    `runs` and `2·runs` timed runs after the warm-up, so that one-time work (weight reorders, the
    second run's Winograd copies) drops out. A one-run row is profiled as it is timed, cold."""
    if runs == 1:
        return onednn_totals(command, 1)
    once, twice = (onednn_totals(with_runs(command, count, 1), 1) for count in (runs, 2 * runs))
    def per_run(more, fewer):
        return collections.Counter({key: max(0.0, (more[key] - fewer[key]) / runs) for key in more})
    return per_run(twice[0], once[0]), per_run(twice[1], once[1])


def onednn_totals(command, runs):
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
    by_kind, by_primitive = collections.Counter(), collections.Counter()
    for line in result.stdout.splitlines():
        if not line.startswith("onednn_verbose,exec"):
            continue
        fields = line.split(",")
        kind, implementation, direction, shape, ms = fields[3], fields[4], fields[5], fields[-2], float(fields[-1])
        if kind == "convolution":
            kind = "convolution " + ("forward" if direction.startswith("forward") else direction.replace("_", "-"))
        by_kind[kind] += ms / runs
        by_primitive[f"{kind} {implementation.split(':')[0]} {shape}"] += ms / runs
    return by_kind, by_primitive


def demangled(symbols):
    tool = shutil.which("swift-demangle")
    if not tool or not symbols:
        return {symbol: symbol for symbol in symbols}
    output = subprocess.run([tool, "--simplified"], input="\n".join(symbols), capture_output=True, text=True).stdout
    return dict(zip(symbols, output.splitlines()))


def cpu_samples(command):
    """Shares of CPU samples (both threads) by where they fall, and the busiest Swift functions."""
    if not shutil.which("perf"):
        return None, []
    with tempfile.TemporaryDirectory() as directory:
        data = os.path.join(directory, "perf.data")
        subprocess.run(["perf", "record", "-q", "-o", data] + command, capture_output=True, text=True)
        script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    places, functions = collections.Counter(), collections.Counter()
    for line in script.splitlines():
        match = re.match(r"^\s*[0-9a-f]+\s+(.*?)\s*\(([^)]*)\)\s*$", line)
        if not match:
            continue
        symbol, library = match.group(1), os.path.basename(match.group(2))
        if library.startswith("perf-") or library == "[unknown]":
            place = "oneDNN kernels"
        elif library.startswith("libgomp"):
            place = "OpenMP waiting"
        elif library.startswith("libdnnl"):
            place = "oneDNN other"
        elif library == "loupe" or library.startswith("libswift"):
            place = "Swift code"
            functions[re.sub(r"\+0x[0-9a-f]+$", "", symbol)] += 1
        elif library.startswith("libc"):
            place = "libc copies" if "mem" in symbol else "libc other"
        elif library.startswith("[kernel"):
            place = "operating system"
        else:
            place = "other"
        places[place] += 1
    total = sum(places.values()) or 1
    names = demangled([name for name, _ in functions.most_common(3)])
    busiest = [(short_name(names[name]), 100 * count / total) for name, count in functions.most_common(3)]
    return {place: 100 * count / total for place, count in places.items()}, busiest


def short_name(name):
    name = re.sub(r"^(specialized |closure #\d+ .*? in )+", "", name)
    name = re.sub(r"\(.*", "", name)
    return name.split(" ")[-1][:60]


def profile(workdir, row):
    command, runs = bench_command(workdir, row["model"], row["workload"], row["batch"])
    wall = run_json(command)["median_s"] * 1000
    by_kind, by_primitive = onednn_time(command, runs)
    # Enough runs under perf (about 5 s) that loading the model is a small part of the samples.
    places, busiest = cpu_samples(with_runs(command, max(runs, int(5000 / max(wall, 1))), 1))
    return wall, by_kind, by_primitive, places, busiest


def format_profile(row, wall, by_kind, by_primitive, places, busiest, isa=None):
    rule = target(row["model"], row["workload"], row["batch"], isa)
    ratio = f"{row[rule[0]]:.2f} (≤ {rule[1]})" if rule and row[rule[0]] is not None else "—"
    kernels = sum(by_kind.values())
    kinds = ", ".join(f"{kind} {ms:.0f}" if ms >= 1 else f"{kind} {ms:.1f}" for kind, ms in by_kind.most_common(3))
    top = "; ".join(f"{name} {ms:.1f}" for name, ms in by_primitive.most_common(2))
    cpu = "—"
    if places:
        order = ["oneDNN kernels", "oneDNN other", "OpenMP waiting", "Swift code", "libc copies", "operating system"]
        cpu = ", ".join(f"{place} {places.get(place, 0):.0f}%" for place in order)
        cpu += ", other " + f"{100 - sum(places.get(place, 0) for place in order):.0f}%"
    swift = ", ".join(f"{name} {share:.0f}%" for name, share in busiest)
    memory = f"{row['memory']:.2f}"
    return (f"| {row['model']} | {row['workload']} | {row['batch']} | {ratio} | {memory} | {wall:.0f} ms | "
            f"{kernels:.0f} ms: {kinds} | {top} | {cpu} | {swift} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".build", "bench-models"))
    parser.add_argument("--rows", help="model:workload:batch,… (default: every row that misses its target)")
    parser.add_argument("--print-only", action="store_true", help="print the profiles, leave BENCHMARKS.md alone")
    parser.add_argument("--isa", help="profile compare.py --isa's table, with oneDNN capped the same way")
    args = parser.parse_args()
    if args.isa:
        os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa  # every profiled command inherits the cap
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    rows = list(table_rows(text, args.isa))
    if args.rows:
        wanted = {tuple(item.split(":")) for item in args.rows.split(",")}
        rows = [row for row in rows if (row["model"], row["workload"], str(row["batch"])) in wanted]
    else:
        rows = [row for row in rows if missed(row, args.isa)]
    lines = ["| model | workload | batch | ratio (target) | memory ratio | Loupe wall | oneDNN time per run, "
             "by kind (ms) | costliest primitives (ms per run) | CPU samples, both threads | busiest Swift "
             "functions (% of samples) |",
             "|---|---|---:|---:|---:|---:|---|---|---|---|"]
    for row in rows:
        lines.append(format_profile(row, *profile(args.workdir, row), isa=args.isa))
        print(lines[-1], flush=True)
    block = "\n".join(lines) + "\n"
    if args.print_only:
        return
    begin, end = ("<!-- breakdown.py begin -->", "<!-- breakdown.py end -->") if args.isa is None else (
        f"<!-- breakdown.py {args.isa} begin -->", f"<!-- breakdown.py {args.isa} end -->")
    write_between(path, begin, end, block)
    print(f"wrote {len(rows)} profiles to {path}")


if __name__ == "__main__":
    main()
