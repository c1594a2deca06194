"""Record MXNet 1.9.1's sparse arrays and sparse optimizer updates (needs real MXNet; never
run by the tests).

    VENV/bin/python tests/runtime/mxnet_recorded/record_sparse.py

Writes sparse/arrays.params: a csr matrix with an explicitly stored zero, a row_sparse array
with a stored all-zero row, an empty row_sparse array, and a dense array, as mx.nd.save
writes them (MXNet's sparse record layout); sparse/states.pkl: the first two and a dense
array pickled as optimizer states; and sparse/updates.params: the inputs ("in:...")
and, per optimizer run, the weight and states after two updates ("<run>:weight",
"<run>:state<k>"), with the storage types MXNet gives them.
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


def main():
    import mxnet as mx
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
