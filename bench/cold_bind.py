"""Cold bind of image-classification networks: generated C, render and compile time.

    python bench/cold_bind.py                                # every network, inference + training
    python bench/cold_bind.py --networks resnet-50 --modes train --repeats 3
    python bench/cold_bind.py --profile                      # compile each unit alone, serially
    OMP_NUM_THREADS=1 python bench/cold_bind.py --steps 3    # + seconds per forward(+backward)

For each network of bench/networks.py (batch 32 at 3x32x32, 8 at 3x224x224) and each bind
(inference: for_training=False; training: SGD), in a fresh process each:

- lines: of the generated C that the bind compiles (entry points and operator kernels; the
  shared kernels, the same for every graph, are counted once in the header line);
- render: seconds from the plan to the C text (CTarget.render), templates already parsed;
- cold: seconds of `Module.bind` with MXC_CACHE_DIR a fresh folder in which only the shared
  kernels' object exists (a graph this machine has not compiled, as a user rebinding for a new
  batch size or bucket meets it);
- cold cpu: CPU seconds of that bind, its own and its compilers' (what the load of other
  processes on the machine does not inflate; on an idle machine with C cores the compilers
  run side by side, so the wall time approaches render + compile CPU / C);
- hit: milliseconds of the same bind in another fresh process (the library found by its
  fingerprint).

The shared kernels' object is compiled once per machine, compiler and flags; its compile time
is printed once, on a folder of its own. `--profile` adds each translation unit's compile time
on its own (one compiler at a time), which shows where a cold bind's time goes.
Timings are medians over --repeats; the machine's other load shows in them (the load average
is printed).
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if __package__ in (None, ""):                       # `python bench/cold_bind.py`
    sys.path.insert(0, str(ROOT))

MODES = {"infer": False, "train": True}

# the bind, run in a fresh process: prints {"seconds": wall, "cpu": CPU seconds of the
# process and of the compilers it ran} as JSON
_BIND = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from bench.networks import NETWORKS
import mxc as mx
name, train = sys.argv[2], sys.argv[3] == "1"
build, shape = NETWORKS[name]
batch = 32 if shape[1] <= 32 else 8
sym = build()
mod = mx.mod.Module(sym, data_names=["data"], label_names=["softmax_label"])
def cpu():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
c0, t0 = cpu(), time.perf_counter()
mod.bind(data_shapes=[("data", (batch,) + shape)], label_shapes=[("softmax_label", (batch,))],
         for_training=train)
seconds = time.perf_counter() - t0
row = {"seconds": seconds, "cpu": cpu() - c0}
if len(sys.argv) > 4:                    # seconds per forward (+ backward when training)
    import numpy as np
    mod.init_params(mx.init.Xavier())
    data = mx.io.DataBatch([mx.nd.array(np.random.RandomState(0).uniform(
        -1, 1, (batch,) + shape))], [mx.nd.array(np.arange(batch) % 10)])
    steps = []
    for _ in range(int(sys.argv[4]) + 1):
        t0 = time.perf_counter()
        mod.forward(data, is_train=train)
        if train:
            mod.backward()
        mod.get_outputs()[0].asnumpy()
        steps.append(time.perf_counter() - t0)
    row["step"] = sorted(steps[1:])[len(steps[1:]) // 2]
print(json.dumps(row))
"""


def batch_of(shape):
    return 32 if shape[1] <= 32 else 8


def timed_bind(name, train, cache, steps=0):
    """(wall, CPU) seconds of Module.bind in a fresh process over cache folder `cache`, and
    the median seconds of `steps` forward (+ backward) passes after it (None for none)."""
    env = dict(os.environ, MXC_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", _BIND, str(ROOT), name, "1" if train else "0"]
                         + ([str(steps)] if steps else []),
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError("bind of %s failed:\n%s" % (name, out.stderr[-3000:]))
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return row["seconds"], row["cpu"], row.get("step")


def plan_of(name, train):
    from bench.networks import NETWORKS
    from mxc.compiler.plan import make_plan
    build, shape = NETWORKS[name]
    batch = batch_of(shape)
    return make_plan(build(), {"data": (batch,) + shape, "softmax_label": (batch,)},
                     ["data"], ["softmax_label"], for_training=train)


def rendered_of(name, train):
    """(Rendered, render seconds) of the bind's C, with the templates already parsed (a
    process parses each template once, on its first render: the cold bind includes that)."""
    from mxc.compiler.target import CTarget
    plan = plan_of(name, train)
    CTarget().render(plan, None, ["sgd"] if train else [])
    t0 = time.perf_counter()
    rendered = CTarget().render(plan, None, ["sgd"] if train else [])
    return rendered, time.perf_counter() - t0


def units_of(rendered):
    """[(kind, text)]: the entry points ("glue"; the whole graph when not split), the
    operator kernels and the shared kernels."""
    units = getattr(rendered, "units", ())
    return [("glue" if units else "graph", rendered.source)] + list(units)


def shared_seconds(repeats=1):
    """Compile seconds of the shared kernels' object (None when the build has none)."""
    from mxc.compiler import codegen
    from mxc.compiler.target import CTarget
    if not hasattr(codegen, "render_shared"):
        return None, 0
    text = codegen.render_shared("float")
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            CTarget().shared_object(text, root=folder)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), text.count("\n")


def prepared_cache(base):
    """A fresh cache folder holding only the shared kernels' object (copied from base)."""
    folder = tempfile.mkdtemp(prefix="mxc-cold-")
    if base and os.path.isdir(os.path.join(base, "shared")):
        shutil.copytree(os.path.join(base, "shared"), os.path.join(folder, "shared"))
        os.chmod(folder, 0o700)
    return folder


def profile_units(rendered):
    """[(kind, lines, wall seconds, CPU seconds)]: each unit compiled alone at the flags a
    build gives it."""
    import shlex
    from mxc.compiler.target import CTarget, compiler_command
    target = CTarget()
    cc = shlex.split(compiler_command())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "mxc.h"), "w") as f:
            f.write(rendered.header)
        split = bool(getattr(rendered, "units", ()))
        for i, (kind, text) in enumerate(units_of(rendered)):
            src = os.path.join(folder, "u%d.c" % i)
            with open(src, "w") as f:
                f.write(text)
            flags = target.glue_flags() if kind == "glue" and split else target.flags
            c0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(cc + flags + ["-fPIC", "-c", src, "-o", src + ".o"], check=True,
                           capture_output=True)
            rows.append((kind, text.count("\n"), time.perf_counter() - t0,
                         _children_cpu() - c0))
    return rows


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None):
    from bench.networks import NETWORKS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--modes", default="infer,train")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--profile", action="store_true",
                    help="also compile each translation unit alone and time it")
    ap.add_argument("--steps", type=int, default=0,
                    help="after the cache-hit bind, time this many forward (+ backward) "
                         "passes (median; the first, warming up, not counted)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    print("load average: %.1f %.1f %.1f on %d cores" % (os.getloadavg() + (os.cpu_count(),)))
    base = tempfile.mkdtemp(prefix="mxc-shared-")
    try:
        seconds, lines = shared_seconds()
        if seconds is not None:
            from mxc.compiler import codegen
            from mxc.compiler.target import CTarget
            CTarget().shared_object(codegen.render_shared("float"), root=base)
            print("shared kernels: %d lines, compiled once in %.2f s" % (lines, seconds))
        print("%-13s %-6s %6s %6s %7s %7s %8s %7s" % (
            "network", "bind", "nodes", "lines", "render", "cold s", "cold cpu", "hit ms"))
        rows = []
        for name in args.networks.split(","):
            for mode in args.modes.split(","):
                train = MODES[mode]
                rendered, render_s = rendered_of(name, train)
                lines = sum(t.count("\n") for kind, t in units_of(rendered) if kind != "shared")
                cold, hit = [], []
                for _ in range(args.repeats):
                    cache = prepared_cache(base)
                    try:
                        cold.append(timed_bind(name, train, cache))
                        hit.append(timed_bind(name, train, cache, args.steps))
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
                row = dict(network=name, mode=mode, nodes=len(plan_of(name, train).nodes),
                           lines=lines, render_s=render_s,
                           cold_s=statistics.median(c[0] for c in cold),
                           cold_cpu=statistics.median(c[1] for c in cold),
                           hit_ms=1000 * statistics.median(h[0] for h in hit), cold_all=cold,
                           step_s=statistics.median(h[2] for h in hit) if args.steps else None)
                rows.append(row)
                print("%-13s %-6s %6d %6d %7.2f %7.2f %8.2f %7.1f%s" % (
                    name, mode, row["nodes"], lines, render_s, row["cold_s"], row["cold_cpu"],
                    row["hit_ms"], "  step %.3f s" % row["step_s"] if args.steps else ""),
                    flush=True)
                if args.profile:
                    for kind, n, wall, cpu in profile_units(rendered):
                        print("    %-8s %6d lines  %6.2f s, %6.2f s CPU" % (kind, n, wall, cpu),
                              flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
