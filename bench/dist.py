"""Data-parallel training over MPI: samples/s for 1, 2, ... processes and a cost model for N hosts.

    python bench/dist.py                       # 1 and 2 processes, MLP 784-512-256-10 on MNIST
    python bench/dist.py --procs 1,2 --batch 128 --rows 20000 --epochs 3

Each process count runs `mpirun -np N python bench/dist.py --worker ...`: every rank trains
`Module.fit(kvstore=mx.kv.create('dist_sync'))` on its part of the first `--rows` MNIST images
(rank r takes the r-th batch of each group of N batches: weak scaling, N x batch rows a step)
with one OpenMP thread a process. Rank 0 reports the fastest epoch (the first is a warm-up;
each configuration runs `--repeats` times and the fastest run is shown),
and three measured parts of a step: the compute (forward, backward and compiled update of one
batch, no communication), the all-reduce of the gradient arena alone, and its size in bytes.
The cost model then predicts, for N hosts of this machine's compute per step, the step time
t(N) = compute + ring all-reduce = compute + 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency,
and samples/s = N x batch / t(N), for a few network speeds. With one process the store has one
worker, so fit takes its whole-epoch C path; with several it runs the batch loop. Last, the
exported C trainer of the same network, built with `make MPI=1` and the runtime's flags
(-O3 -march=native), runs on the same process counts (`--no-c` skips it). `--mxnet PYTHON`
runs the same workers on MXNet's own dist_sync (ps-lite, one server) as a peer.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)

# (name, bytes/s, one-way latency s) of the links the cost model assumes
NETWORKS = (("10 GbE", 1.25e9, 50e-6), ("25 GbE", 3.125e9, 20e-6),
            ("100 Gb IB", 12.5e9, 3e-6))


def _net(mx):
    net = mx.sym.Variable("data")
    for i, hidden in enumerate((512, 256)):
        net = mx.sym.FullyConnected(net, name="fc%d" % (i + 1), num_hidden=hidden)
        net = mx.sym.Activation(net, name="relu%d" % (i + 1), act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc3", num_hidden=10)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _data(rows):
    sys.path.insert(0, _REPO)
    from bench import data
    try:
        x, y = data.mnist("train", limit=rows)
        return x.reshape(len(x), -1), y, "MNIST"
    except (FileNotFoundError, OSError):
        rng = np.random.RandomState(0)
        return (rng.rand(rows, 784).astype(np.float32),
                rng.randint(0, 10, rows).astype(np.float32), "random (MNIST not found)")


def worker(args):
    import logging
    if args.framework == "mxnet":
        import mxnet as mx
    else:
        import mxc as mx
    logging.getLogger().setLevel(logging.WARNING)
    kv = mx.kv.create("dist_sync")
    rank, n = kv.rank, kv.num_workers
    x, y, source = _data(args.rows)
    groups = len(x) // (n * args.batch)
    part = np.arange(groups * n * args.batch).reshape(groups, n, args.batch)[:, rank].ravel()
    it = mx.io.NDArrayIter(x[part], y[part], args.batch, shuffle=False)
    mod = mx.mod.Module(_net(mx))
    ends = []
    t0 = time.perf_counter()
    mod.fit(it, num_epoch=args.epochs, kvstore=kv, optimizer="sgd",
            optimizer_params={"learning_rate": 0.05}, initializer=mx.init.Xavier(),
            epoch_end_callback=lambda *a: ends.append(time.perf_counter()))
    starts = [t0] + ends[:-1]
    epoch_s = min(e - s for s, e in list(zip(starts, ends))[1:] or zip(starts, ends))
    # one step's parts: compute alone (a second module, no store), all-reduce alone
    batch = mx.io.DataBatch([mx.nd.array(x[:args.batch])], [mx.nd.array(y[:args.batch])])
    local = mx.mod.Module(_net(mx))
    local.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    local.init_params(mx.init.Xavier())
    local.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.05})
    steps = 30
    for _ in range(3):
        local.forward_backward(batch)
        local.update()
    t = time.perf_counter()
    for _ in range(steps):
        local.forward_backward(batch)
        local.update()
    if args.framework == "mxnet":
        mx.nd.waitall()
    compute_s = (time.perf_counter() - t) / steps
    arg, _ = local.get_params()
    grads = np.zeros(sum(v.size for v in arg.values()), dtype=np.float32)
    reduce_s = 0.0
    if n > 1 and hasattr(kv, "allreduce_"):
        kv.barrier()
        t = time.perf_counter()
        for _ in range(steps):
            kv.allreduce_(grads)
        reduce_s = (time.perf_counter() - t) / steps
    if rank == 0:
        print("RESULT " + json.dumps(dict(
            procs=n, batch=args.batch, steps_per_epoch=groups, epoch_s=epoch_s,
            samples_per_s=groups * n * args.batch / epoch_s, compute_s=compute_s,
            allreduce_s=reduce_s, grad_bytes=int(grads.nbytes), data=source)), flush=True)


def _worker_args(args, framework):
    return [os.path.abspath(__file__), "--worker", "--framework", framework,
            "--batch", str(args.batch), "--rows", str(args.rows), "--epochs", str(args.epochs)]


def _result(res, what):
    for line in res.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError("%s failed:\n%s%s" % (what, res.stdout, res.stderr))


def run(procs, args):
    cmd = _mpirun(procs) + [sys.executable] + _worker_args(args, "mxc")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    return _result(res, "mpirun -np %d" % procs)


def run_mxnet(procs, args, python):
    """The same workers on MXNet's ps-lite: a scheduler, one server, `procs` workers."""
    base = dict(os.environ, OMP_NUM_THREADS="1", DMLC_PS_ROOT_URI="127.0.0.1",
                DMLC_PS_ROOT_PORT=str(9500 + procs), DMLC_NUM_WORKER=str(procs),
                DMLC_NUM_SERVER="1")
    base.pop("MXNET_ENGINE_TYPE", None)
    others = [subprocess.Popen([python, "-c", "import mxnet"], env=dict(base, DMLC_ROLE=role),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for role in ("scheduler", "server")]
    workers = [subprocess.Popen([python] + _worker_args(args, "mxnet"),
                                env=dict(base, DMLC_ROLE="worker"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(procs)]
    outs = [w.communicate(timeout=1800) for w in workers]
    for p in others:
        p.wait(timeout=60)
    res = subprocess.CompletedProcess([], 0, "".join(o for o, _ in outs),
                                      "".join(e for _, e in outs))
    return _result(res, "MXNet ps-lite with %d workers" % procs)


def _write_raw(path, array):
    """mxc's raw float32 format (the C trainer's --format raw)."""
    import struct
    array = np.ascontiguousarray(array, dtype="<f4")
    with open(path, "wb") as f:
        f.write(b"MXCF32\n\0" + struct.pack("<I", array.ndim))
        f.write(struct.pack("<%dQ" % array.ndim, *array.shape))
        f.write(array.tobytes())


def c_trainer(procs_list, args, folder):
    """The exported C trainer built with MPI=1: [(procs, samples/s of the last epoch)]."""
    sys.path.insert(0, _REPO)
    import mxc as mx
    x, y, _ = _data(args.rows)
    mod = mx.mod.Module(_net(mx))
    mod.bind(data_shapes=[("data", (args.batch, 784))],
             label_shapes=[("softmax_label", (args.batch,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.05})
    mod.export(folder, kind="trainer", name="mlp")
    # the flags the runtime compiles with on this machine (the Makefile's default is -O2)
    flags = "CFLAGS=-std=c11 -O3 -march=native -fno-math-errno"
    res = subprocess.run(["make", "-s", "-C", folder, "MPI=1", flags, "mlp_train_mpi"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("make MPI=1 failed:\n" + res.stdout + res.stderr)
    _write_raw(os.path.join(folder, "x.raw"), x)
    _write_raw(os.path.join(folder, "y.raw"), y)
    out = []
    for procs in [p for p in procs_list for _ in range(args.repeats)]:
        cmd = _mpirun(procs) + ["./mlp_train_mpi", "--format", "raw", "--train", "x.raw",
                                "--train-labels", "y.raw", "--params", "mlp.params",
                                "--epochs", str(args.epochs), "--no-shuffle", "--prefix", "ck"]
        res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=1800)
        times = [float(line.split("=")[1]) for line in res.stdout.splitlines()
                 if "Time cost=" in line]
        if res.returncode != 0 or not times:
            raise RuntimeError("C trainer on %d processes failed:\n%s%s"
                               % (procs, res.stdout, res.stderr))
        steps = -(-len(x) // (procs * args.batch))
        out.append((procs, steps * procs * args.batch / max(times[-procs:])))
    return [(n, max(sps for p, sps in out if p == n)) for n in procs_list]


def _mpirun(procs):
    cmd = ["mpirun", "-np", str(procs)]
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version:
        cmd += ["--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
                "--mca", "btl_vader_single_copy_mechanism", "none"]
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd


def cost_model(compute_s, grad_bytes, batch, hosts=(1, 2, 4, 8, 16, 32, 64)):
    """{network: [(N, step s, samples/s, efficiency)]} for a ring all-reduce."""
    table = {}
    for name, bw, lat in NETWORKS:
        rows = []
        for n in hosts:
            comm = 0.0 if n == 1 else 2 * (n - 1) / n * grad_bytes / bw + 2 * (n - 1) * lat
            step = compute_s + comm
            rows.append((n, step, n * batch / step, compute_s / step))
        table[name] = rows
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", default="1,2", help="process counts (default 1,2)")
    p.add_argument("--batch", type=int, default=128, help="rows per process and step")
    p.add_argument("--rows", type=int, default=20000, help="MNIST rows (split over ranks)")
    p.add_argument("--epochs", type=int, default=3, help="epochs (the first is a warm-up)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of each configuration; the fastest is reported (default 3)")
    p.add_argument("--no-c", action="store_true", help="skip the exported C trainer (MPI=1)")
    p.add_argument("--mxnet", metavar="PYTHON",
                   help="also run MXNet's dist_sync (ps-lite: a scheduler, one server) with "
                        "this Python interpreter, which has MXNet installed")
    p.add_argument("--framework", default="mxc", help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if shutil.which("mpirun") is None:
        sys.exit("mpirun not found: install Open MPI (or MPICH) and mpi4py (pip install "
                 "\"mxc[dist]\")")
    def best(runs):
        return max(runs, key=lambda r: r["samples_per_s"])
    results = [best([run(int(n), args) for _ in range(args.repeats)])
               for n in args.procs.split(",")]
    print("MLP 784-512-256-10, %s data, batch %d a process, SGD, OMP_NUM_THREADS=1, %d cores, "
          "load average %.1f, best of %d" % (results[0]["data"], args.batch, os.cpu_count(),
                                             os.getloadavg()[0], args.repeats))
    print("%6s %12s %12s %14s %14s %12s" % ("procs", "samples/s", "epoch s", "compute/step",
                                             "allreduce/step", "grad bytes"))
    for r in results:
        print("%6d %12.0f %12.3f %12.2f ms %12.2f ms %12d" % (
            r["procs"], r["samples_per_s"], r["epoch_s"], 1e3 * r["compute_s"],
            1e3 * r["allreduce_s"], r["grad_bytes"]))
    if not args.no_c and shutil.which("mpicc") and shutil.which("make"):
        import tempfile
        with tempfile.TemporaryDirectory() as folder:
            rows = c_trainer([r["procs"] for r in results], args, folder)
        print("exported C trainer (make MPI=1), last epoch: " + ", ".join(
            "%d process%s %.0f samples/s" % (n, "es" if n > 1 else "", sps) for n, sps in rows))
    if args.mxnet:
        for n in args.procs.split(","):
            r = best([run_mxnet(int(n), args, args.mxnet) for _ in range(args.repeats)])
            print("MXNet 1.x dist_sync (ps-lite, 1 server), %d worker%s: %.0f samples/s, "
                  "compute/step %.2f ms" % (r["procs"], "s" if r["procs"] > 1 else "",
                                            r["samples_per_s"], 1e3 * r["compute_s"]))
    base = results[0]
    print("\ncost model, N hosts with this machine's compute per step (%.2f ms at batch %d) "
          "and a ring all-reduce of %.2f MB:" % (1e3 * base["compute_s"], args.batch,
                                                  base["grad_bytes"] / 1e6))
    for name, rows in cost_model(base["compute_s"], base["grad_bytes"], args.batch).items():
        print("  %-10s " % name + "  ".join("N=%d %.0f/s (%.0f%%)" % (n, sps, 100 * eff)
                                            for n, _, sps, eff in rows))
    return results


if __name__ == "__main__":
    main()
