"""One system on one workload, in its own process (so ru_maxrss is that run's peak memory).

Prints one JSON line: the repetitions, compile/bind times (mxc) and peak memory.
"""
import argparse
import json
import resource
import statistics
import sys


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--system", required=True, choices=["mxc", "numpy", "torch", "mxc-compile", "mxc-bind"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from .workloads import WORKLOADS
    w = WORKLOADS[args.workload]
    arrays = w.load()
    res = {"workload": w.name, "system": args.system}
    if args.system in ("mxc", "mxc-compile", "mxc-bind"):
        import mxc as mx
        from . import sys_mxc
        reason = sys_mxc.unsupported(mx, w) if args.system == "mxc-compile" else None
        if reason:
            res["skipped"] = reason
            print(json.dumps(res))
            return 0
        if args.system in ("mxc-compile", "mxc-bind"):
            # its own process: the cold compile (empty cache), or a bind over a filled cache
            # with what bind uses imported first; the runs then measure a user's steady state
            if args.system == "mxc-bind":
                import mxc.compiler.build  # noqa: F401
                import mxc.executor  # noqa: F401
                import mxc.module  # noqa: F401
            res.update(sys_mxc.compile_times(mx, w, arrays))
            print(json.dumps(res))
            return 0
        run = sys_mxc.run
    elif args.system == "torch":
        from . import sys_torch
        res["threads"] = sys_torch.threads()
        run = sys_torch.run
    else:
        from . import sys_numpy
        run = sys_numpy.run
    reps = [run(w, arrays, seed=k) for k in range(args.repeats)]
    res["reps"] = reps
    for key in ("train_s", "infer_s"):
        vals = [r[key] for r in reps]
        res[key] = statistics.median(vals)
        res[key + "_min"], res[key + "_max"] = min(vals), max(vals)
    res["train_sps"] = reps[0]["train_samples"] / res["train_s"]
    res["infer_sps"] = reps[0]["infer_samples"] / res["infer_s"]
    res["accuracy"] = statistics.median(r["accuracy"] for r in reps)
    res["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
