"""The bench workloads (bench/workloads.py) on the GPU: mxc on mx.gpu() beside PyTorch CUDA.

    python tests/gpu/bench_gpu.py [--workloads tutorial,mlp]

Prints one line per (workload, system): training samples/s, inference samples/s, accuracy.
"""
import argparse
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from bench import sys_mxc  # noqa: E402
from bench.workloads import WORKLOADS  # noqa: E402


def run_mxc(w, arrays):
    import mxc as mx
    tx, ty, vx, vy = arrays
    mx.random.seed(0)
    np.random.seed(0)
    train_iter = mx.io.NDArrayIter(tx, ty, w.batch, shuffle=True)
    mod = mx.mod.Module(sys_mxc.symbol(mx, w), context=mx.gpu())
    init = None if w.name == "tutorial" else mx.init.Xavier(magnitude=2.0)
    t0 = time.perf_counter()
    mod.bind(train_iter.provide_data, train_iter.provide_label)
    bind_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mod.fit(train_iter, optimizer="sgd", optimizer_params={"learning_rate": w.lr},
            eval_metric="acc", num_epoch=w.epochs, initializer=init)
    train_s = time.perf_counter() - t0
    arg, aux = mod.get_params()
    pred = mx.mod.Module(sys_mxc.symbol(mx, w), context=mx.gpu())
    infer_iter = mx.io.NDArrayIter(vx, vy, w.infer_batch)
    pred.bind(infer_iter.provide_data, infer_iter.provide_label, for_training=False)
    pred.set_params(arg, aux)
    pred.predict(infer_iter)                       # warm
    t0 = time.perf_counter()
    out = pred.predict(infer_iter).asnumpy()
    infer_s = time.perf_counter() - t0
    acc = float((out.argmax(1) == vy).mean())
    return dict(train_sps=len(tx) * w.epochs / train_s, infer_sps=len(vx) / infer_s,
                accuracy=acc, bind_s=bind_s)


def run_torch(w, arrays):
    import torch
    from bench import sys_torch
    dev = torch.device("cuda")
    torch.manual_seed(0)
    tx, ty, vx, vy = (torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in arrays)
    ty, vy = ty.long(), vy.long()
    model = sys_torch._model(torch, w).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=w.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(w.epochs):
        perm = torch.from_numpy(rng.permutation(len(tx))).to(dev)
        for b in range(0, len(tx) - w.batch + 1, w.batch):
            idx = perm[b:b + w.batch]
            loss = loss_fn(model(tx[idx]), ty[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        for _ in range(2):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            outs = torch.cat([model(vx[b:b + w.infer_batch])
                              for b in range(0, len(vx), w.infer_batch)])
            torch.cuda.synchronize()
            infer_s = time.perf_counter() - t0
    acc = float((outs.argmax(1) == vy).float().mean())
    return dict(train_sps=len(tx) * w.epochs / train_s, infer_sps=len(vx) / infer_s,
                accuracy=acc)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="tutorial,mlp")
    args = ap.parse_args(argv)
    systems = [("mxc-gpu", run_mxc)]
    if importlib.util.find_spec("torch") is not None:
        import torch
        if torch.cuda.is_available():
            systems.append(("torch-cuda", run_torch))
    results = []
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        arrays = w.load()
        for sysname, fn in systems:
            try:
                r = fn(w, arrays)
            except Exception as err:        # report and go on with the other systems
                r = {"error": "%s: %s" % (type(err).__name__, str(err)[:300])}
            r.update(workload=name, system=sysname)
            results.append(r)
            print(json.dumps(r), flush=True)
    print("%-9s %-11s %12s %12s %8s" % ("workload", "system", "train smp/s", "infer smp/s",
                                       "acc"))
    for r in results:
        if "error" in r:
            print("%-9s %-11s %s" % (r["workload"], r["system"], r["error"]))
        else:
            print("%-9s %-11s %12.0f %12.0f %8.4f" % (r["workload"], r["system"],
                                                      r["train_sps"], r["infer_sps"],
                                                      r["accuracy"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
