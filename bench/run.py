"""Run every workload on every system, print the table and save bench/results.json.

    python -m bench [--quick] [--workloads tutorial,mlp,lenet] [--repeats N]
"""
import argparse
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

if __package__ in (None, ""):                       # `python bench/run.py`
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import peak                               # noqa: E402
from bench.workloads import WORKLOADS               # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def _worker(workload, system, repeats, env):
    cmd = [sys.executable, "-m", "bench.worker", "--workload", workload, "--system", system,
           "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(HERE.parent))
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"workload": workload, "system": system, "error": tail[0][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _systems():
    out = ["mxc", "numpy"]
    if importlib.util.find_spec("torch") is not None:
        out.append("torch")
    return out


def _fmt_rate(r, key):
    if key + "_sps" not in r:
        return "-"
    s = r[key + "_s"]
    spread = (r[key + "_s_max"] - r[key + "_s_min"]) / s * 100 if s else 0
    return "%9.0f ±%2.0f%%" % (r[key + "_sps"], spread)


def table(results, peak_info):
    lines = []
    if peak_info:
        lines.append("machine peak: %.1f GFLOP/s fp32 (FMA loop, %d threads, %d-wide vectors)"
                     % peak_info)
    head = "%-8s %-7s %15s %15s %9s %8s %8s %8s %9s %9s" % (
        "workload", "system", "train smp/s", "infer smp/s", "train s", "acc", "GF/s tr",
        "GF/s inf", "peak MiB", "bind s")
    for name, w in WORKLOADS.items():
        rows = [r for r in results if r["workload"] == name]
        if not rows:
            continue
        lines += ["", w.title, head]
        fi, ft = w.flops()
        for r in rows:
            if "skipped" in r or "error" in r:
                lines.append("%-8s %-7s skipped: %s" % (name, r["system"],
                                                        r.get("skipped") or r.get("error")))
                continue
            bind = ""
            if r["system"] == "mxc":
                bind = "%.3f" % r.get("cache_hit_bind_s", float("nan"))
            lines.append("%-8s %-7s %15s %15s %9.3f %8.4f %8.2f %8.2f %9.1f %9s" % (
                name, r["system"] + ("(%dt)" % r["threads"] if "threads" in r else ""),
                _fmt_rate(r, "train"), _fmt_rate(r, "infer"), r["train_s"], r["accuracy"],
                r["train_sps"] * ft / 1e9, r["infer_sps"] * fi / 1e9, r["peak_mib"], bind))
        mxc = next((r for r in rows if r["system"] == "mxc" and "train_sps" in r), None)
        if mxc:
            lines.append("  mxc cold compile: train %.2f s, inference %.2f s; cache-hit bind "
                         "(fresh process) %.1f ms" % (mxc["compile_train_s"],
                                                       mxc["compile_infer_s"],
                                                       1e3 * mxc["cache_hit_bind_s"]))
            for r in rows:
                if r is mxc or "train_sps" not in r:
                    continue
                lines.append("  mxc vs %-6s: training %.2fx, inference %.2fx, peak memory "
                             "%.2fx" % (r["system"], mxc["train_sps"] / r["train_sps"],
                                        mxc["infer_sps"] / r["infer_sps"],
                                        mxc["peak_mib"] / r["peak_mib"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, workload (a) only "
                    "unless --workloads is given, no peak measurement")
    ap.add_argument("--workloads", default=None, help="comma list of %s" % ",".join(WORKLOADS))
    ap.add_argument("--systems", default=None, help="comma list (default: mxc,numpy[,torch])")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--output", default=str(HERE / "results.json"))
    args = ap.parse_args(argv)
    names = (args.workloads or ("tutorial" if args.quick else ",".join(WORKLOADS))).split(",")
    for n in names:
        if n not in WORKLOADS:
            ap.error("unknown workload %r (choose from %s)" % (n, ", ".join(WORKLOADS)))
    systems = args.systems.split(",") if args.systems else _systems()
    repeats = args.repeats or (1 if args.quick else 5)
    peak_info = None if args.quick else peak.measure()
    results = []
    cache = tempfile.mkdtemp(prefix="mxc-bench-cache-")
    env = dict(os.environ, MXC_CACHE_DIR=cache)
    # measure as an installed package runs: Python keeps compiled bytecode of its modules
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        for name in names:
            reps = repeats if name != "lenet" or args.repeats else max(1, min(repeats, 3))
            for system in systems:
                cold = _worker(name, "mxc-compile", 1, env) if system == "mxc" else {}
                if "skipped" in cold or "error" in cold:
                    r = cold
                    r["system"] = "mxc"
                else:
                    r = _worker(name, system, reps, env)
                    r.update({k: v for k, v in cold.items() if k.startswith("compile_")})
                if system == "mxc" and "train_sps" in r:
                    hit = _worker(name, "mxc-bind", 1, env)
                    r["cache_hit_bind_s"] = hit.get("compile_train_s", float("nan"))
                results.append(r)
                print("  done %s/%s" % (name, system), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    text = table(results, peak_info)
    print(text)
    out = {"peak": peak_info, "results": results}
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
