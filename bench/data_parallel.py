"""Training samples/s of Module.fit on one and on two CPU contexts, SGD: the tutorial MLP
16-64-26 on the UCI letters data (--net tutorial), or an MLP 784-512-256-10 on 12800 random
MNIST-sized rows (--net mlp).

    python bench/data_parallel.py [--net tutorial] [--epochs 4] [--repeat 3]
                                  [--batches 32,128] [--mxnet-python PY]

One context runs whole epochs in one compiled call; two contexts run every batch through one
executor per context (half the batch each; large executors run at the same time, one thread
each), gradients summed on the host. With
--mxnet-python (or env MXNET_PYTHON) the same runs are timed on MXNet 1.x as well. Each system
runs in its own process; one warm-up epoch (compiles, caches) is not timed, and the best of
--repeat timings is kept (a busy machine only slows runs down).
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp_net(mx, hidden, classes):
    net = mx.sym.Variable("data")
    for k, h in enumerate(hidden):
        net = mx.sym.FullyConnected(net, name="fc%d" % (k + 1), num_hidden=h)
        net = mx.sym.Activation(net, name="relu%d" % (k + 1), act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc%d" % (len(hidden) + 1), num_hidden=classes)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def workload(name):
    """(symbol builder, train x, train y)."""
    if name == "tutorial":
        x, y = letters()
        n = int(x.shape[0] * 0.8)
        return (lambda mx: mlp_net(mx, [64], 26)), x[:n], y[:n]
    rng = np.random.RandomState(0)
    return ((lambda mx: mlp_net(mx, [512, 256], 10)), rng.rand(12800, 784).astype(np.float32),
            rng.randint(0, 10, 12800).astype(np.float32))


def letters():
    """(data float32 [20000, 16], label float32) as in MXNet's Module tutorial (read with
    plain Python so that any NumPy version gives the same arrays)."""
    sys.path.insert(0, os.path.dirname(HERE))
    from bench.data import shared_dir
    rows = [line.strip().split(",") for line in
            open(shared_dir() / "data" / "letter-recognition.data") if line.strip()]
    data = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float32)
    label = np.array([ord(r[0]) - ord("A") for r in rows], dtype=np.float32)
    return data, label


def measure(system, net, ncontexts, batch, epochs, repeat):
    """samples/s of `epochs` epochs of fit on `ncontexts` CPU contexts (best of `repeat`)."""
    if system == "mxnet":
        import mxnet as mx
    else:
        import mxc as mx
    build, x, y = workload(net)
    n = x.shape[0]
    it = mx.io.NDArrayIter(x, y, batch, shuffle=False)
    mod = mx.mod.Module(build(mx), context=[mx.cpu(k) for k in range(ncontexts)])
    kw = dict(optimizer="sgd", optimizer_params={"learning_rate": 0.1}, eval_metric="acc")
    mod.fit(it, num_epoch=1, **kw)                          # warm-up: compile, load, caches
    best = 0.0
    for _ in range(repeat):                                 # the best of `repeat` timings
        it.reset()
        t0 = time.perf_counter()
        mod.fit(it, begin_epoch=1, num_epoch=1 + epochs, **kw)
        best = max(best, epochs * (n // batch) * batch / (time.perf_counter() - t0))
    return best


def child(args):
    logging.disable(logging.WARNING)
    import warnings
    warnings.simplefilter("ignore")
    out = {}
    for batch in args.batches:
        for ncontexts in (1, 2):
            out["%d,%d" % (batch, ncontexts)] = measure(args.system, args.net, ncontexts,
                                                        batch, args.epochs, args.repeat)
    print(json.dumps(out))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", choices=("tutorial", "mlp"), default="tutorial")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batches", default="32,128")
    p.add_argument("--repeat", type=int, default=3, help="timings per setting (best kept)")
    p.add_argument("--mxnet-python", default=os.environ.get("MXNET_PYTHON"))
    p.add_argument("--system", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.batches = [int(b) for b in str(args.batches).split(",")]
    if args.system:
        return child(args)
    systems = [("mxc", sys.executable)]
    if args.mxnet_python:
        systems.append(("mxnet", args.mxnet_python))
    print("%s, SGD, %d epochs (best of %d), %d cores"
          % ({"tutorial": "tutorial MLP 16-64-26, letters (16000 rows)",
              "mlp": "MLP 784-512-256-10, 12800 random rows"}[args.net], args.epochs,
             args.repeat, os.cpu_count()))
    print("%-6s %6s %14s %14s %7s" % ("system", "batch", "1 ctx samp/s", "2 ctx samp/s",
                                      "2 / 1"))
    for system, python in systems:
        res = subprocess.run([python, os.path.abspath(__file__), "--system", system,
                              "--net", args.net, "--epochs", str(args.epochs),
                              "--repeat", str(args.repeat),
                              "--batches", ",".join(map(str, args.batches))],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print("%s failed:\n%s" % (system, res.stderr[-2000:]))
            continue
        out = json.loads(res.stdout.strip().splitlines()[-1])
        for batch in args.batches:
            one, two = out["%d,1" % batch], out["%d,2" % batch]
            print("%-6s %6d %14.0f %14.0f %7.2f" % (system, batch, one, two, two / one))
    return 0


if __name__ == "__main__":
    sys.exit(main())
