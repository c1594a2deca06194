"""Record MXNet 1.9.1's sparse arrays and sparse optimizer updates (needs real MXNet; never
run by the tests).

    VENV/bin/python tests/runtime/mxnet_recorded/record_sparse.py

Writes sparse/arrays.params: a csr matrix with an explicitly stored zero, a row_sparse array
with a stored all-zero row, an empty row_sparse array, and a dense array, as mx.nd.save
writes them (MXNet's sparse record layout); sparse/states.pkl: the first two and a dense
array pickled as optimizer states; sparse/updates.params: the inputs ("in:...")
and, per optimizer run, the weight and states after two updates ("<run>:weight",
"<run>:state<k>"), with the storage types MXNet gives them; and sparse/module.params: the
parameters ("<run>:<name>") after `train_module` with each of MODULE_RUNS and after
`train_graph` ("embedding:<name>", "dense_grad:<name>").
"""
import pathlib
import pickle

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent / "sparse"

# run name -> (optimizer name, keyword arguments, weight storage type)
RUNS = {
    "sgd_lazy": ("sgd", dict(learning_rate=0.1, momentum=0.9, wd=0.05, rescale_grad=0.5),
                 "row_sparse"),
    "sgd_std": ("sgd", dict(learning_rate=0.1, momentum=0.9, wd=0.05, lazy_update=False),
                "row_sparse"),
    "sgd_dense_weight": ("sgd", dict(learning_rate=0.1, wd=0.05, clip_gradient=0.3),
                         "default"),
    "adam_lazy": ("adam", dict(learning_rate=0.01, wd=0.02, clip_gradient=0.3), "row_sparse"),
    "adagrad": ("adagrad", dict(learning_rate=0.1, rescale_grad=0.7), "row_sparse"),
    "ftrl": ("ftrl", dict(learning_rate=0.1, lamda1=0.01, wd=0.03), "row_sparse"),
    "rmsprop_fallback": ("rmsprop", dict(learning_rate=0.01), "row_sparse"),
}


def inputs():
    """A (5, 3) weight (every row stored) and a gradient storing rows 1 and 3 (row 3 zero)."""
    rng = np.random.RandomState(0)
    w = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    g_rows = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    g_rows[1] = 0
    return w, g_rows, np.array([1, 3], np.int64)


# Module runs: optimizer name -> parameters (one epoch over four csr batches)
MODULE_RUNS = {
    "sgd": {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01},
    "sgd_std": {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "lazy_update": False},
    "adam": {"learning_rate": 0.05, "wd": 0.01},
    "adagrad": {"learning_rate": 0.1},
    "ftrl": {"learning_rate": 0.1, "lamda1": 0.001},
}


def module_inputs():
    """csr-like data (16 x 12, column 7 never present), labels and initial parameters."""
    rng = np.random.RandomState(0)
    n, m, k = 16, 12, 3
    dense = (rng.rand(n, m) < 0.15) * rng.uniform(-1, 1, (n, m))
    dense[:, 7] = 0
    x = dense.astype(np.float32)
    y = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    w0 = rng.uniform(-0.5, 0.5, (m, 1)).astype(np.float32)
    v0 = rng.uniform(-0.5, 0.5, (m, k)).astype(np.float32)
    return x, y, w0, v0


def train_module(mx, optimizer, optimizer_params):
    """A linear model plus a factor sum over csr data with two row_sparse parameters, trained
    one epoch by Module (run with `mx` = MXNet here, mxc in the tests)."""
    x, y, w0, v0 = module_inputs()
    m, k = v0.shape
    data = mx.sym.var("data", stype="csr")
    w = mx.sym.var("w_weight", shape=(m, 1), stype="row_sparse")
    v = mx.sym.var("v", shape=(m, k), stype="row_sparse")
    out = mx.sym.dot(data, w) + mx.sym.sum(mx.sym.dot(data, v), axis=1, keepdims=True)
    net = mx.sym.LinearRegressionOutput(out, mx.sym.var("label"), name="out")
    it = mx.io.NDArrayIter(mx.nd.array(x).tostype("csr"), {"label": mx.nd.array(y)},
                           batch_size=4, last_batch_handle="discard")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["label"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params={"w_weight": mx.nd.array(w0).tostype("row_sparse"),
                                "v": mx.nd.array(v0).tostype("row_sparse")})
    mod.init_optimizer(optimizer=optimizer, optimizer_params=optimizer_params)
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
    return mod.get_params()[0]


def train_graph(mx, kind):
    """Two steps of SGD (momentum, wd) on a row_sparse parameter reached two ways:
    "embedding": an Embedding with sparse_grad over indices that hit row 5 (all negative, so
    the relu after it passes no gradient) and never row 9; "dense_grad": a FullyConnected
    weight, whose gradient is dense (MXNet: the standard update of every row)."""
    rng = np.random.RandomState(1)
    if kind == "embedding":
        table = rng.uniform(0.1, 1, (10, 4)).astype(np.float32)
        table[5] = -1
        idx = np.array([[5, 1], [2, 5], [0, 3], [5, 7]], np.float32)
        weight = mx.sym.var("embed_weight", stype="row_sparse")
        feat = mx.sym.Embedding(mx.sym.var("data"), weight=weight, input_dim=10, output_dim=4,
                                sparse_grad=True)
        feat = mx.sym.Flatten(mx.sym.Activation(feat, act_type="relu"))
        inputs, init = idx, {"embed_weight": table}
    else:
        x = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
        weight = mx.sym.var("p_weight", stype="row_sparse")
        feat = mx.sym.FullyConnected(mx.sym.var("data"), weight=weight, num_hidden=5,
                                     no_bias=True)
        inputs, init = x, {"p_weight": rng.uniform(-1, 1, (5, 3)).astype(np.float32)}
    out = mx.sym.FullyConnected(feat, num_hidden=1, name="fc")
    net = mx.sym.LinearRegressionOutput(out, mx.sym.var("label"), name="out")
    label = rng.uniform(-1, 1, (4, 1)).astype(np.float32)
    it = mx.io.NDArrayIter(inputs, label, batch_size=4, label_name="label")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["label"])
    mod.bind(it.provide_data, it.provide_label)
    arg = {k: mx.nd.array(v).tostype("row_sparse") for k, v in init.items()}
    arg["fc_weight"] = mx.nd.array(rng.uniform(-1, 1, (1, 8 if kind == "embedding" else 5)))
    arg["fc_bias"] = mx.nd.zeros((1,))
    mod.init_params(arg_params=arg)
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": 0.9, "wd": 0.1})
    for _ in range(2):
        it.reset()
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
    return mod.get_params()[0]


def main():
    import mxnet as mx
    trained = {}
    for run, params in MODULE_RUNS.items():
        for name, arr in train_module(mx, run.split("_")[0], params).items():
            trained["%s:%s" % (run, name)] = arr
    for kind in ("embedding", "dense_grad"):
        for name, arr in train_graph(mx, kind).items():
            trained["%s:%s" % (kind, name)] = arr
    HERE.mkdir(exist_ok=True)
    mx.nd.save(str(HERE / "module.params"), trained)
    HERE.mkdir(exist_ok=True)
    csr = mx.nd.sparse.csr_matrix(([1.5, 0.0, -2.0, 4.0], [0, 3, 1, 2], [0, 2, 2, 4]),
                                  shape=(3, 4))
    rsp = mx.nd.sparse.row_sparse_array((np.array([[1, 2], [0, 0], [3, 4]], np.float32),
                                         [0, 2, 5]), shape=(6, 2))
    empty = mx.nd.sparse.zeros("row_sparse", (3, 2), dtype=np.float64)
    mx.nd.save(str(HERE / "arrays.params"),
               {"csr": csr, "rsp": rsp, "empty": empty, "dense": mx.nd.array([[1, 2]])})
    # an optimizer-states pickle holding sparse arrays, as Updater.get_states writes it
    (HERE / "states.pkl").write_bytes(pickle.dumps({0: rsp, 1: (csr, mx.nd.array([3, 4]))}))

    w, g_rows, g_idx = inputs()
    saved = {"in:weight": mx.nd.array(w),
             "in:grad": mx.nd.sparse.row_sparse_array((g_rows, g_idx), shape=w.shape)}
    for run, (name, kwargs, w_stype) in RUNS.items():
        opt = mx.optimizer.create(name, **kwargs)
        weight = mx.nd.array(w).tostype(w_stype)
        grad = mx.nd.sparse.row_sparse_array((g_rows, g_idx), shape=w.shape)
        state = opt.create_state(0, weight)
        for _ in range(2):
            opt.update(0, weight, grad, state)
        saved["%s:weight" % run] = weight
        states = state if isinstance(state, (tuple, list)) else [state]
        for k, s in enumerate(x for x in states if x is not None):
            saved["%s:state%d" % (run, k)] = s
    mx.nd.save(str(HERE / "updates.params"), saved)
    print("wrote", sorted(saved))


if __name__ == "__main__":
    main()
