"""Record MXNet 1.9.1's kvstore 'dist_sync' on the run of tests/runtime/test_dist.py: two
workers, one server and a scheduler of ps-lite on this host, each worker training the MLP on
its part of every combined batch for 100 updates (SGD, momentum, wd) from its own initial
parameters. Writes dist_sync/mxnet_dist_sync.npz: the data and rank 0's initial parameters it
trained from, and every worker's final parameters.

Run with a Python that has MXNet 1.9.1 (never in CI):  python record_dist_sync.py
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dist_sync")
BATCH, WORKERS, ROWS, EPOCHS = 8, 2, 400, 4
OPTIMIZER = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}


# the same data, network and initial parameters as test_dist.py (the test checks the data and
# the initial parameters stored beside the result against its own)
def data():
    rng = np.random.RandomState(3)
    x = rng.randn(ROWS, 10).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.float32) + (x[:, 4] > 1)
    return x, y.astype(np.float32)


def initial(seed):
    rng = np.random.RandomState(seed)
    shapes = {"fc1_weight": (16, 10), "fc1_bias": (16,), "fc2_weight": (3, 16), "fc2_bias": (3,)}
    return {k: (0.3 * rng.randn(*s)).astype(np.float32) for k, s in shapes.items()}


def worker():
    import mxnet as mx
    kv = mx.kv.create("dist_sync")
    x, y = data()
    part = np.arange(ROWS).reshape(-1, kv.num_workers, BATCH)[:, kv.rank].ravel()
    it = mx.io.NDArrayIter(x[part], y[part], BATCH, shuffle=False)
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=16)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=3)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net)
    mod.fit(it, num_epoch=EPOCHS, kvstore=kv, optimizer="sgd", optimizer_params=OPTIMIZER,
            arg_params={k: mx.nd.array(v) for k, v in initial(kv.rank).items()})
    arg, _ = mod.get_params()
    np.savez(os.path.join(OUT, "rank%d.tmp.npz" % kv.rank),
             **{k: v.asnumpy() for k, v in arg.items()})


def main():
    os.makedirs(OUT, exist_ok=True)
    base = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT="9391",
                DMLC_NUM_WORKER=str(WORKERS), DMLC_NUM_SERVER="1", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", "import mxnet"],
                              env=dict(base, DMLC_ROLE=role)) for role in ("scheduler", "server")]
    workers = [subprocess.Popen([sys.executable, __file__, "--worker"],
                                env=dict(base, DMLC_ROLE="worker")) for _ in range(WORKERS)]
    codes = [p.wait(timeout=300) for p in workers + procs]
    assert codes == [0] * len(codes), codes
    result = {"x": data()[0], "y": data()[1]}
    result.update({"init:" + k: v for k, v in initial(0).items()})
    for r in range(WORKERS):
        path = os.path.join(OUT, "rank%d.tmp.npz" % r)
        result.update({"rank%d:%s" % (r, k): v for k, v in np.load(path).items()})
        os.remove(path)
    np.savez(os.path.join(OUT, "mxnet_dist_sync.npz"), **result)
    print("wrote", os.path.join(OUT, "mxnet_dist_sync.npz"))


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
