"""Sparse storage types around dense computation: CSRNDArray and RowSparseNDArray against
hand-built structures, refused index arrays, MXNet's density in rand_sparse_ndarray, lazy
row_sparse optimizer updates against NumPy implementations written here, csr fallback,
sparse variables in symbols, _square_sum, and a Module with a row_sparse weight trained on
csr batches."""
import json
import pathlib
import pickle
import sys

import numpy as np
import pytest

import mxc as mx
from mxc import states_format
from mxc import test_utils as tu
from mxc.base import MXNetError

HERE = pathlib.Path(__file__).resolve().parent / "mxnet_recorded"
sys.path.insert(0, str(HERE))
import record_sparse as rec  # noqa: E402  (what MXNet 1.9.1 recorded, rerun here with mxc)

sparse = mx.nd.sparse


# ---- construction and structure ---------------------------------------------------------------

# a 3x4 matrix and its CSR parts, written out by hand
DENSE = np.array([[1, 0, 2, 0],
                  [0, 0, 0, 0],
                  [0, 3, 0, 4]], np.float32)
DATA, INDICES, INDPTR = [1, 2, 3, 4], [0, 2, 1, 3], [0, 2, 2, 4]


def test_csr_from_parts_and_from_dense_agree_with_the_hand_built_structure():
    a = sparse.csr_matrix((DATA, INDICES, INDPTR), shape=(3, 4))
    b = mx.nd.array(DENSE).tostype("csr")
    for arr in (a, b, sparse.csr_matrix(DENSE), mx.nd.array(DENSE, stype="csr")):
        assert isinstance(arr, sparse.CSRNDArray) and arr.stype == "csr"
        assert arr.shape == (3, 4) and arr.dtype == np.float32
        np.testing.assert_array_equal(arr.asnumpy(), DENSE)
        np.testing.assert_array_equal(arr.data.asnumpy(), DATA)
        np.testing.assert_array_equal(arr.indices.asnumpy(), INDICES)
        np.testing.assert_array_equal(arr.indptr.asnumpy(), INDPTR)
        assert arr.indices.dtype == np.int64
    back = a.tostype("default")
    assert type(back) is mx.nd.NDArray and back.stype == "default"
    np.testing.assert_array_equal(back.asnumpy(), DENSE)
    # an explicitly stored zero stays stored; the shape is inferred when not given
    z = sparse.csr_matrix(([5.0, 0.0], [1, 2], [0, 1, 2]))
    assert z.shape == (2, 3)
    np.testing.assert_array_equal(z.indices.asnumpy(), [1, 2])
    np.testing.assert_array_equal(z.data.asnumpy(), [5, 0])


def test_csr_from_coordinates_sums_duplicates_and_rows_slice():
    a = sparse.csr_matrix(([1.0, 2.0, 5.0], ([0, 2, 0], [1, 0, 1])), shape=(3, 2))
    np.testing.assert_array_equal(a.asnumpy(), [[0, 6], [0, 0], [2, 0]])
    rows = sparse.csr_matrix(DENSE)[1:3]
    assert rows.stype == "csr"
    np.testing.assert_array_equal(rows.asnumpy(), DENSE[1:3])
    np.testing.assert_array_equal(rows.indptr.asnumpy(), [0, 0, 2])


def test_row_sparse_keeps_stored_zero_rows_and_converts():
    data = np.array([[1, 2], [0, 0], [3, 0]], np.float32)
    r = sparse.row_sparse_array((data, [0, 2, 4]), shape=(5, 2))
    assert isinstance(r, sparse.RowSparseNDArray) and r.stype == "row_sparse"
    want = np.zeros((5, 2), np.float32)
    want[[0, 2, 4]] = data
    np.testing.assert_array_equal(r.asnumpy(), want)
    np.testing.assert_array_equal(r.indices.asnumpy(), [0, 2, 4])       # row 2 stays stored
    np.testing.assert_array_equal(r.data.asnumpy(), data)
    # from dense: the non-zero rows only (cast_storage)
    d = mx.nd.array(want).tostype("row_sparse")
    np.testing.assert_array_equal(d.indices.asnumpy(), [0, 4])
    np.testing.assert_array_equal(r.tostype("csr").indices.asnumpy(), [0, 1, 0])
    np.testing.assert_array_equal(r.tostype("csr").indptr.asnumpy(), [0, 2, 2, 2, 2, 3])
    np.testing.assert_array_equal(mx.nd.cast_storage(r, "default").asnumpy(), want)
    kept = r.retain(mx.nd.array([2, 3, 4]))
    np.testing.assert_array_equal(kept.indices.asnumpy(), [2, 4])
    np.testing.assert_array_equal(kept.asnumpy()[4], [3, 0])
    assert kept.asnumpy()[0].sum() == 0


def test_zeros_copies_and_contexts_keep_the_storage_type():
    for stype, cls in (("csr", sparse.CSRNDArray), ("row_sparse", sparse.RowSparseNDArray)):
        z = mx.nd.zeros((4, 3), stype=stype, dtype=np.float64)
        assert isinstance(z, cls) and z.dtype == np.float64 and z.data.shape[0] == 0
        assert sparse.zeros(stype, (4, 3)).stype == stype
        a = mx.nd.array(np.vstack([DENSE[:, :3], [[0, 5, 0]]])).tostype(stype)
        for other in (a.copy(), a.copyto(mx.cpu(1)), a.as_in_context(mx.cpu(1)),
                      a.astype(np.float64)):
            assert other.stype == stype and other is not a
            np.testing.assert_array_equal(other.asnumpy(), a.asnumpy())
        assert a.copyto(mx.cpu(1)).context == mx.cpu(1)
        target = mx.nd.zeros((4, 3))
        a.copyto(target)                      # into a dense array: the values
        np.testing.assert_array_equal(target.asnumpy(), a.asnumpy())
        holder = mx.nd.zeros((4, 3), stype=stype)
        mx.nd.ones((4, 3)).copyto(holder)     # into a sparse one: cast to its type
        assert holder.stype == stype and holder.asnumpy().sum() == 12
    r = mx.nd.array(np.eye(3)).tostype("row_sparse")
    assert (r * 2).stype == "row_sparse" and (r + r).stype == "row_sparse"
    assert (r + 1).stype == "default"
    np.testing.assert_array_equal((r * 2).asnumpy(), 2 * np.eye(3))


@pytest.mark.parametrize("build, message", [
    (lambda: sparse.csr_matrix(([1, 2], [2, 1], [0, 2]), shape=(1, 3)), "strictly increasing"),
    (lambda: sparse.csr_matrix(([1, 2], [1, 1], [0, 2]), shape=(1, 3)), "strictly increasing"),
    (lambda: sparse.csr_matrix(([1], [3], [0, 1]), shape=(1, 3)), "out of range"),
    (lambda: sparse.csr_matrix(([1], [-1], [0, 1]), shape=(1, 3)), "out of range"),
    (lambda: sparse.csr_matrix(([1, 2], [0, 1], [0, 2, 1]), shape=(2, 3)), "non-decreasing"),
    (lambda: sparse.csr_matrix(([1], [0], [0, 1]), shape=(2, 3)), "indptr has 2 entries"),
    (lambda: sparse.csr_matrix(([1, 2], [0, 1], [0, 1]), shape=(1, 3)), "indptr\\[-1\\]"),
    (lambda: sparse.csr_matrix(([1], [0, 1], [0, 2]), shape=(1, 3)), "data has 1"),
    (lambda: sparse.csr_matrix(([1], [0.5], [0, 1]), shape=(1, 3)), "integers"),
    (lambda: sparse.row_sparse_array(([[1.0], [2.0]], [3, 1]), shape=(4, 1)),
     "strictly increasing"),
    (lambda: sparse.row_sparse_array(([[1.0], [2.0]], [1, 1]), shape=(4, 1)),
     "strictly increasing"),
    (lambda: sparse.row_sparse_array(([[1.0]], [4]), shape=(4, 1)), "out of range"),
    (lambda: sparse.row_sparse_array(([[1.0, 2.0]], [0]), shape=(4, 1)), "data rows"),
    (lambda: sparse.row_sparse_array(([[1.0]], [0, 1]), shape=(4, 1)), "indices has 2"),
    (lambda: mx.nd.zeros((2, 2), stype="coo"), "unknown storage type"),
    (lambda: mx.nd.zeros((2, 2, 2), stype="csr"), "2-D"),
    (lambda: mx.sym.var("w", stype="dense"), "variable 'w'"),
])
def test_bad_structures_are_refused_by_name(build, message):
    with pytest.raises(MXNetError, match=message):
        build()


def test_sparse_only_indexing_and_assignment_are_refused_clearly():
    r = mx.nd.array(np.eye(3)).tostype("row_sparse")
    with pytest.raises(MXNetError, match="RowSparseNDArray only supports"):
        r[1]
    with pytest.raises(MXNetError, match="only supports \\[:\\] for assignment"):
        r[1] = 2
    with pytest.raises(MXNetError, match="reshape is not supported"):
        r.reshape((9,))
    r[:] = mx.nd.zeros((3, 3))
    assert r.indices.shape == (0,) and r.stype == "row_sparse"


# ---- random sparse arrays --------------------------------------------------------------------

def test_rand_sparse_ndarray_density_means_what_it_means_in_mxnet():
    np.random.seed(3)
    full = tu.rand_ndarray((6, 3), "row_sparse", density=1)
    assert full.stype == "row_sparse" and full.indices.shape == (6,)
    assert 0 <= full.asnumpy().min() and full.asnumpy().max() < 1
    empty, (values, indices) = tu.rand_sparse_ndarray((6, 3), "row_sparse", density=0)
    assert empty.indices.shape == (0,) and values.size == 0 and indices.size == 0
    rows = [tu.rand_ndarray((200, 2), "row_sparse", density=0.25).indices.shape[0]
            for _ in range(5)]
    assert 30 < np.mean(rows) < 70                          # each row kept w.p. 0.25
    csr = tu.rand_ndarray((10, 20), "csr", density=0.3)
    assert csr.stype == "csr" and csr.data.shape == (60,)   # round(0.3 * 200) positions
    power, _ = tu.rand_sparse_ndarray((5, 16), "csr", density=0.5, distribution="powerlaw")
    counts = np.diff(power.indptr.asnumpy())
    assert counts[2] == 2 * counts[1] and counts[3] == 2 * counts[2]
    assert counts.sum() == 40
    fixed, _ = tu.rand_sparse_ndarray((4, 2), "row_sparse", rsp_indices=[1, 3], data_init=7)
    np.testing.assert_array_equal(fixed.indices.asnumpy(), [1, 3])
    assert set(np.unique(fixed.data.asnumpy())) == {7}


# ---- optimizers ------------------------------------------------------------------------------

def _operands(seed, zero_stored_row=False):
    """A row_sparse weight storing every row and a row_sparse gradient of rows 1 and 3."""
    rng = np.random.RandomState(seed)
    w = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    g_rows = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    if zero_stored_row:
        g_rows[1] = 0
    weight = sparse.row_sparse_array((w, np.arange(5)), shape=(5, 3))
    grad = sparse.row_sparse_array((g_rows, [1, 3]), shape=(5, 3))
    g = np.zeros_like(w)
    g[[1, 3]] = g_rows
    return weight, grad, w, g


def _sgd_mom_numpy(w, g, mom, rows, lr, wd, momentum, rescale):
    """MXNet's sgd_mom_update on the listed rows (NumPy)."""
    w, mom = w.copy(), mom.copy()
    for r in rows:
        mom[r] = momentum * mom[r] - lr * wd * w[r] - lr * rescale * g[r]
        w[r] = w[r] + mom[r]
    return w, mom


@pytest.mark.parametrize("w_stype", ["row_sparse", "default"])
def test_sgd_lazy_update_touches_only_the_gradients_stored_rows(w_stype):
    weight, grad, w, g = _operands(0, zero_stored_row=True)
    if w_stype == "default":
        weight = weight.tostype("default")
    kw = dict(learning_rate=0.1, wd=0.05, momentum=0.9, rescale_grad=0.5)
    for lazy, rows in ((True, [1, 3]), (False, range(5))):
        opt = mx.optimizer.SGD(lazy_update=lazy, **kw)
        wt = weight.copy()
        state = opt.create_state(0, wt)
        assert state.stype == (w_stype if lazy else "default")
        mom = np.zeros_like(w)
        want_w, want_mom = w, mom
        for _ in range(2):
            opt.update(0, wt, grad, state)
            want_w, want_mom = _sgd_mom_numpy(want_w, g, want_mom, rows, 0.1, 0.05, 0.9, 0.5)
        assert wt.stype == w_stype
        np.testing.assert_allclose(wt.asnumpy(), want_w, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(state.asnumpy(), want_mom, rtol=1e-6, atol=1e-6)
        if lazy:    # row 3 is stored with zero values: updated (weight decay), rows 0, 2, 4 not
            np.testing.assert_array_equal(wt.asnumpy()[[0, 2, 4]], w[[0, 2, 4]])
            assert not np.allclose(wt.asnumpy()[3], w[3])
            if w_stype == "row_sparse":     # filled with zeros first, as MXNet's kernels
                np.testing.assert_array_equal(state.indices.asnumpy(), np.arange(5))


def test_adam_lazy_update_against_numpy():
    weight, grad, w, g = _operands(1)
    opt = mx.optimizer.Adam(learning_rate=0.01, wd=0.02, rescale_grad=0.7, clip_gradient=0.3)
    state = opt.create_state(0, weight)
    opt.update(0, weight, grad, state)
    b1, b2, eps = 0.9, 0.999, 1e-8
    want = w.copy()
    mean, var = np.zeros_like(w), np.zeros_like(w)
    lr = 0.01 * np.sqrt(1 - b2) / (1 - b1)
    for r in (1, 3):
        gr = np.clip(0.7 * g[r] + 0.02 * w[r], -0.3, 0.3)
        mean[r] = (1 - b1) * gr
        var[r] = (1 - b2) * gr * gr
        want[r] = w[r] - lr * mean[r] / (np.sqrt(var[r]) + eps)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state[0].asnumpy(), mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state[1].asnumpy(), var, rtol=1e-5, atol=1e-9)


def test_adagrad_and_ftrl_sparse_updates():
    weight, grad, w, g = _operands(2)
    opt = mx.optimizer.AdaGrad(learning_rate=0.1, eps=1e-7)
    hist = opt.create_state(0, weight)
    assert hist.stype == "row_sparse"
    opt.update(0, weight, grad, hist)
    want = w.copy()
    want[[1, 3]] = w[[1, 3]] - 0.1 * g[[1, 3]] / np.sqrt(g[[1, 3]] ** 2 + 1e-7)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(MXNetError, match="weight decay"):
        mx.optimizer.AdaGrad(wd=0.1).update(0, weight, grad, hist)
    # Ftrl: weight, gradient and both states row_sparse -> the stored rows only
    weight, grad, w, g = _operands(3)
    opt = mx.optimizer.Ftrl(learning_rate=0.1, lamda1=0.01, beta=1)
    z, n = opt.create_state(0, weight)
    opt.update(0, weight, grad, (z, n))
    want = w.copy()
    for r in (1, 3):
        zr = g[r] - np.sqrt(g[r] ** 2) * w[r] / 0.1
        nr = g[r] ** 2
        want[r] = np.where(np.abs(zr) > 0.01,
                           (np.sign(zr) * 0.01 - zr) / ((1 + np.sqrt(nr)) / 0.1), 0)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_row_sparse_weight_missing_rows_is_refused():
    weight = sparse.row_sparse_array(([[1.0, 2.0]], [0]), shape=(3, 2))
    grad = sparse.row_sparse_array(([[1.0, 1.0]], [1]), shape=(3, 2))
    with pytest.raises(MXNetError, match="must store all of its 3 rows"):
        mx.optimizer.SGD(momentum=0.9).update(0, weight, grad,
                                              mx.nd.zeros((3, 2), stype="row_sparse"))


def test_csr_weight_and_gradient_fall_back_to_the_dense_update():
    rng = np.random.RandomState(4)
    w = rng.uniform(0.1, 1, (3, 4)).astype(np.float32)
    g = rng.uniform(-1, 1, (3, 4)).astype(np.float32) * (rng.rand(3, 4) < 0.5)
    weight, grad = mx.nd.array(w).tostype("csr"), mx.nd.array(g).tostype("csr")
    opt = mx.optimizer.SGD(learning_rate=0.2, wd=0.1, momentum=0.5)
    state = opt.create_state(0, weight)
    opt.update(0, weight, grad, state)
    mom = -0.2 * 0.1 * w - 0.2 * g
    assert weight.stype == "csr" and state.stype == "csr"
    np.testing.assert_allclose(weight.asnumpy(), w + mom, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(state.asnumpy(), mom, rtol=1e-6, atol=1e-7)
    tu.compare_optimizer(mx.optimizer.SGD(momentum=0.9, wd=0.01), mx.optimizer.SGD(
        momentum=0.9, wd=0.01), (3, 4), np.float32, w_stype="csr", g_stype="csr")


# ---- symbols and Module ------------------------------------------------------------------

def test_variable_storage_type_attribute_and_square_sum():
    v = mx.sym.var("v", stype="row_sparse")
    x = mx.sym.var("x", stype="csr")
    nodes = json.loads(mx.sym.Group([v, x]).tojson())["nodes"]
    assert [n["attrs"]["__storage_type__"] for n in nodes] == ["1", "2"]
    s = mx.sym._internal._square_sum(data=v, axis=1, keepdims=True)
    val = np.random.RandomState(5).uniform(-1, 1, (4, 3))
    head = np.random.RandomState(6).uniform(-1, 1, (4, 1))
    # one float64 training bind: forward vs NumPy, backward vs the closed form 2 v g, and
    # against central differences
    ex = s.simple_bind(mx.cpu(), v=(4, 3), type_dict={"v": np.float64})
    ex.forward(is_train=True, v=val)
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), np.sum(val * val, 1, keepdims=True),
                               rtol=1e-12)
    ex.backward(mx.nd.array(head, dtype=np.float64))
    np.testing.assert_allclose(ex.grad_dict["v"].asnumpy(), 2 * val * head, rtol=1e-12)
    tu.check_numeric_gradient(s, {"v": val}, dtype=np.float64)
    np.testing.assert_allclose(mx.nd._square_sum(mx.nd.array(val), axis=0)
                               .asnumpy(), np.sum(val * val, axis=0), rtol=1e-6)


def test_module_with_row_sparse_weight_learns_from_csr_batches():
    np.random.seed(6)
    n, m = 64, 12
    x = tu.rand_ndarray((n, m), "csr", density=0.4)
    w_true = np.random.uniform(-1, 1, (m, 1)).astype(np.float32)
    y = x.asnumpy() @ w_true
    data = mx.sym.var("data", stype="csr")
    v = mx.sym.var("v", shape=(m, 1), stype="row_sparse", init=mx.init.Uniform(0.1))
    net = mx.sym.LinearRegressionOutput(mx.sym.dot(data, v), mx.sym.var("label"), name="out")
    it = mx.io.NDArrayIter(x, {"label": mx.nd.array(y)}, batch_size=16,
                           last_batch_handle="discard")
    assert next(iter(it)).data[0].stype == "csr"
    mod = mx.mod.Module(net, data_names=["data"], label_names=["label"])
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params()
    assert mod._arg_params["v"].stype == "row_sparse"
    assert np.sum(np.abs(mod._arg_params["v"].asnumpy())) != 0
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5,
                                                          "momentum": 0.9})
    for _ in range(40):
        it.reset()
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
    args, _ = mod.get_params()
    assert isinstance(args["v"], sparse.RowSparseNDArray)
    # the least-squares solution of the same data (the design is of full column rank)
    solution = np.linalg.lstsq(x.asnumpy().astype(np.float64), y, rcond=None)[0]
    np.testing.assert_allclose(args["v"].asnumpy(), solution, atol=1e-2)


def test_contrib_sparse_embedding_is_the_dense_embedding():
    idx = mx.sym.var("idx")
    w = mx.sym.var("embed_weight", stype="row_sparse")
    emb = mx.sym.contrib.SparseEmbedding(data=idx, weight=w, input_dim=5, output_dim=3,
                                         name="embed")
    table = np.random.RandomState(7).uniform(-1, 1, (5, 3))
    ids = np.array([[4, 0], [2, 2]], np.float64)
    tu.check_symbolic_forward(emb, {"idx": ids, "embed_weight": table},
                              [table[ids.astype(int)]], dtype=np.float64)
    with pytest.raises(AttributeError, match="contrib has no operator"):
        mx.sym.contrib.NoSuchOperator
    # mx.sym.sparse: the operators themselves (dense computation)
    s = mx.sym.sparse.dot(idx, w, transpose_a=True)
    assert json.loads(s.tojson())["nodes"][-1]["op"] == "dot"
    assert mx.sym.sparse.square_sum is mx.sym._internal._square_sum or \
        mx.sym.sparse.square_sum.__name__ == "_square_sum"
    with pytest.raises(AttributeError, match="sparse has no operator"):
        mx.sym.sparse.NoSuchOperator


# ---- against MXNet 1.9.1's recordings ----------------------------------------------------

@pytest.mark.parametrize("run", sorted(rec.RUNS))
def test_sparse_updates_match_mxnet(run):
    recorded = mx.nd.load(str(HERE / "sparse" / "updates.params"))
    name, kwargs, w_stype = rec.RUNS[run]
    w, g_rows, g_idx = rec.inputs()
    np.testing.assert_array_equal(recorded["in:weight"].asnumpy(), w)
    opt = mx.optimizer.create(name, **kwargs)
    weight = mx.nd.array(w).tostype(w_stype)
    grad = sparse.row_sparse_array((g_rows, g_idx), shape=w.shape)
    state = opt.create_state(0, weight)
    for _ in range(2):
        opt.update(0, weight, grad, state)
    states = [s for s in (state if isinstance(state, (tuple, list)) else [state])
              if s is not None]
    got = dict({"weight": weight}, **{"state%d" % k: s for k, s in enumerate(states)})
    want = {k.split(":", 1)[1]: v for k, v in recorded.items() if k.startswith(run + ":")}
    assert sorted(got) == sorted(want)
    for key, arr in got.items():
        assert arr.stype == want[key].stype, key
        np.testing.assert_allclose(arr.asnumpy(), want[key].asnumpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=key)
        if arr.stype == "row_sparse":
            np.testing.assert_array_equal(arr.indices.asnumpy(),
                                          want[key].indices.asnumpy(), err_msg=key)


def test_sparse_files_read_and_write_as_mxnet():
    path = HERE / "sparse" / "arrays.params"
    loaded = mx.nd.load(str(path))
    csr, rsp, empty = loaded["csr"], loaded["rsp"], loaded["empty"]
    assert isinstance(csr, sparse.CSRNDArray) and isinstance(rsp, sparse.RowSparseNDArray)
    np.testing.assert_array_equal(csr.indices.asnumpy(), [0, 3, 1, 2])   # a stored zero
    np.testing.assert_array_equal(csr.indptr.asnumpy(), [0, 2, 2, 4])
    np.testing.assert_array_equal(csr.data.asnumpy(), [1.5, 0, -2, 4])
    np.testing.assert_array_equal(rsp.indices.asnumpy(), [0, 2, 5])      # a stored zero row
    np.testing.assert_array_equal(rsp.data.asnumpy(), [[1, 2], [0, 0], [3, 4]])
    assert empty.dtype == np.float64 and empty.indices.shape == (0,)
    assert loaded["dense"].stype == "default"
    # written back byte for byte as MXNet wrote it
    assert mx.nd._serialize(loaded) == path.read_bytes()
    # optimizer-state pickles with sparse arrays, both ways
    states = states_format.loads((HERE / "sparse" / "states.pkl").read_bytes())
    assert isinstance(states[0], sparse.RowSparseNDArray) and \
        isinstance(states[1][0], sparse.CSRNDArray)
    np.testing.assert_array_equal(states[0].indices.asnumpy(), [0, 2, 5])
    again = states_format.loads(states_format.dumps(states))
    np.testing.assert_array_equal(again[1][0].indices.asnumpy(), [0, 3, 1, 2])
    assert pickle.loads(pickle.dumps(rsp)).indices.asnumpy().tolist() == [0, 2, 5]


@pytest.mark.parametrize("cut, message", [
    (lambda b: b[:-3], "truncated"),
    (lambda b: b.replace(bytes.fromhex("0000000000000000" "0300000000000000" "0100000000000000"
                                       "0200000000000000"),
                         bytes.fromhex("0000000000000000" "0100000000000000" "0300000000000000"
                                       "0200000000000000")), "increasing"),
])
def test_malformed_sparse_records_are_refused(cut, message):
    raw = (HERE / "sparse" / "arrays.params").read_bytes()
    bad = cut(raw)
    assert bad != raw
    with pytest.raises(MXNetError, match=message):
        mx.nd.load_frombuffer(bad)


@pytest.mark.parametrize("run", sorted(rec.MODULE_RUNS))
def test_module_row_sparse_parameters_train_as_in_mxnet(run):
    # lazy runs update only the rows a batch reaches (column 7 never is), as MXNet's Module
    recorded = mx.nd.load(str(HERE / "sparse" / "module.params"))
    params = rec.train_module(mx, run.split("_")[0], rec.MODULE_RUNS[run])
    _, _, w0, _ = rec.module_inputs()
    for name, arr in params.items():
        want = recorded["%s:%s" % (run, name)]
        assert arr.stype == want.stype == "row_sparse"
        np.testing.assert_allclose(arr.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    moved = params["w_weight"].asnumpy()[7] != w0[7]
    assert moved == (run == "sgd_std")


def test_sparse_namespace_operators_and_dispatch_log(caplog):
    a = mx.nd.array(DENSE).tostype("csr")
    np.testing.assert_array_equal(mx.nd.sparse.dot(a, mx.nd.ones((4, 2))).asnumpy(),
                                  DENSE @ np.ones((4, 2)))
    assert mx.nd.sparse.add(a, a).stype == "csr" and mx.nd.sparse.multiply(a, 3).stype == "csr"
    assert mx.nd.sparse.subtract(a, mx.nd.ones((3, 4))).stype == "default"
    np.testing.assert_array_equal(mx.nd.sparse.square_sum(a, axis=1).asnumpy(),
                                  (DENSE ** 2).sum(axis=1))
    import logging
    sparse._LOGGED.clear()                          # logged once per process otherwise
    with caplog.at_level(logging.INFO, logger="mxc.sparse"):
        opt = mx.optimizer.Signum(momentum=0.5)     # no sparse update: the dense fallback
        w = a.copy()
        opt.update(0, w, a, opt.create_state(0, w))
    assert any(r.name == "mxc.sparse" and "storage fallback" in r.getMessage()
               for r in caplog.records)


def test_executors_take_sparse_arrays_and_compute_densely():
    x, w = mx.sym.var("x", stype="csr"), mx.sym.var("w", stype="row_sparse")
    y = mx.sym.dot(x, w)
    a = mx.nd.array(DENSE).tostype("csr")
    b = mx.nd.array(np.arange(8).reshape(4, 2)).tostype("row_sparse")
    want = DENSE @ np.arange(8).reshape(4, 2)
    np.testing.assert_array_equal(y.eval(x=a, w=b)[0].asnumpy(), want)
    ex = y.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2), stype_dict={"x": "csr", "w": "row_sparse"})
    ex.forward(x=a, w=b)
    np.testing.assert_array_equal(ex.outputs[0].asnumpy(), want)
    grad = mx.nd.zeros((4, 2), stype="row_sparse")
    ex = y.bind(mx.cpu(), {"x": a, "w": b}, args_grad={"w": grad})
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones((3, 2)))
    np.testing.assert_array_equal(grad.asnumpy(), DENSE.T @ np.ones((3, 2)))
    np.testing.assert_array_equal(grad.indices.asnumpy(), [0, 1, 2, 3])
    with pytest.raises(MXNetError, match="unknown storage type 'coo'"):
        y.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2), stype_dict={"x": "coo"})


# ---- LibSVMIter ---------------------------------------------------------------------------

SVM_DATA = "1.0 0:0.5 2:1.2\n-2.0\n-3.0 0:0.6 1:2.4 2:1.2\n4 2:-1.2\n"
SVM_LABEL = "1.0\n-2.0 0:0.125\n-3.0 2:1.2\n4 1:1.0 2:-1.2\n"
SVM_ROWS = np.array([[0.5, 0, 1.2], [0, 0, 0], [0.6, 2.4, 1.2], [0, 0, -1.2]], np.float32)
SVM_LABEL_ROWS = np.array([[0, 0, 0], [0.125, 0, 0], [0, 0, 1.2], [0, 1, -1.2]], np.float32)


def test_libsvm_iter_batches_wrap_as_mxnet(tmp_path):
    (tmp_path / "data.t").write_text(SVM_DATA)
    (tmp_path / "label.t").write_text(SVM_LABEL)
    it = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "data.t"), data_shape=(3,),
                          label_libsvm=str(tmp_path / "label.t"), label_shape=(3,),
                          batch_size=3)
    assert it.provide_data[0].shape == (3, 3) and it.provide_label[0].shape == (3, 3)
    # round_batch: the second batch is completed from the start (pad 2), and the next epoch
    # continues after the rows already used
    order = [[0, 1, 2], [3, 0, 1], [2, 3, 0], [1, 2, 3]]
    pads = [0, 2, 1, 0]
    seen = []
    for _ in range(3):
        for batch in it:
            seen.append(batch)
        it.reset()
    assert len(seen) == 4
    for batch, rows, pad in zip(seen, order, pads):
        assert batch.data[0].stype == "csr" and batch.label[0].stype == "csr"
        batch.data[0].check_format()
        np.testing.assert_allclose(batch.data[0].asnumpy(), SVM_ROWS[rows])
        np.testing.assert_allclose(batch.label[0].asnumpy(), SVM_LABEL_ROWS[rows])
        assert batch.pad == pad
    plain = mx.io.LibSVMIter(data_libsvm=str(tmp_path / "data.t"), data_shape=(3,),
                             batch_size=2)
    labels = [b.label[0].asnumpy().tolist() for b in plain]
    assert labels == [[1.0, -2.0], [-3.0, 4.0]] and plain.provide_label[0].shape == (2,)


def test_libsvm_iter_parts_and_bad_files(tmp_path):
    path = tmp_path / "data.t"
    path.write_text(SVM_DATA)
    # 53 bytes in 2 parts of 27: the boundary falls in the third line, so part 0 takes
    # lines 0-2 and part 1 the last one
    parts = [[b.label[0].asnumpy()[0] for b in mx.io.LibSVMIter(
        data_libsvm=str(path), data_shape=(3,), batch_size=1, num_parts=2, part_index=k)]
        for k in range(2)]
    assert parts == [[1.0, -2.0, -3.0], [4.0]]
    for text, message in (("1 -1:0.5\n", "out of range"), ("1 3:0.5\n", "out of range"),
                          ("1 2:0.5 1:1\n", "increasing"), ("1 x:0.5\n", "cannot parse")):
        path.write_text(text)
        with pytest.raises(MXNetError, match=message):
            mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(3,), batch_size=1)
    with pytest.raises(MXNetError, match="round_batch"):
        mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(3,), batch_size=1,
                         round_batch=False)


@pytest.mark.parametrize("kind", ["embedding", "dense_grad"])
def test_module_sparse_gradient_rows_follow_the_graph_as_mxnet(kind):
    # embedding: row 5 is looked up but passes no gradient (relu), and still gets the lazy
    # update (weight decay, momentum) as MXNet stores it; dense_grad: a FullyConnected
    # weight has a dense gradient, so every row gets the standard update
    recorded = mx.nd.load(str(HERE / "sparse" / "module.params"))
    params = rec.train_graph(mx, kind)
    for name, arr in params.items():
        want = recorded["%s:%s" % (kind, name)]
        assert arr.stype == want.stype, name
        np.testing.assert_allclose(arr.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_bucketing_module_buckets_share_the_lazy_update():
    def sym_gen(length):
        weight = mx.sym.var("embed_weight", stype="row_sparse")
        emb = mx.sym.Embedding(mx.sym.var("data"), weight=weight, input_dim=10, output_dim=3,
                               sparse_grad=True)
        out = mx.sym.FullyConnected(mx.sym.sum(emb, axis=1), num_hidden=1, name="fc")
        return (mx.sym.LinearRegressionOutput(out, mx.sym.var("label"), name="out"),
                ("data",), ("label",))
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=4)
    mod.bind(data_shapes=[("data", (2, 4))], label_shapes=[("label", (2, 1))])
    mod.init_params(initializer=mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": 0.9, "wd": 0.1})
    before = mod.get_params()[0]["embed_weight"].asnumpy()
    for length in (4, 2):            # the second bucket borrows the first one's optimizer
        batch = mx.io.DataBatch([mx.nd.array(np.arange(2 * length).reshape(2, length) % 6)],
                                [mx.nd.ones((2, 1))], bucket_key=length,
                                provide_data=[("data", (2, length))],
                                provide_label=[("label", (2, 1))])
        mod.forward_backward(batch)
        mod.update()
    after = mod.get_params()[0]["embed_weight"]
    assert after.stype == "row_sparse"
    np.testing.assert_array_equal(after.asnumpy()[6:], before[6:])   # rows never looked up
    assert not np.allclose(after.asnumpy()[:6], before[:6])


def test_ndarray_iter_over_csr_keeps_csr_batches_when_shuffled():
    np.random.seed(8)
    x = tu.rand_ndarray((12, 5), "csr", density=0.4)
    it = mx.io.NDArrayIter(x, mx.nd.arange(12), batch_size=4, shuffle=True,
                           last_batch_handle="discard")
    seen = []
    for batch in it:
        assert batch.data[0].stype == "csr"
        seen.append((batch.data[0].asnumpy(), batch.label[0].asnumpy().astype(int)))
    dense = x.asnumpy()
    for values, labels in seen:                  # each row travels with its label
        np.testing.assert_array_equal(values, dense[labels])
    assert sorted(np.concatenate([l for _, l in seen]).tolist()) == list(range(12))


def test_scipy_matrices_convert_both_ways():
    spsp = pytest.importorskip("scipy.sparse")
    coo = spsp.coo_matrix(([1.0, 2.0, 0.0], ([0, 2, 1], [1, 0, 3])), shape=(3, 4))
    for source in (coo, coo.tocsr()):
        a = mx.nd.sparse.csr_matrix(source)
        assert a.stype == "csr"
        np.testing.assert_array_equal(a.asnumpy(), coo.toarray())
        np.testing.assert_array_equal(a.indices.asnumpy(), [1, 3, 0])     # the stored zero
    back = mx.nd.array(coo).asscipy()
    np.testing.assert_array_equal(back.toarray(), coo.toarray())


def test_comparisons_keep_sparse_where_zeros_stay_zero_and_mxnet_value_errors():
    for stype in ("row_sparse", "csr"):
        y = mx.nd.ones((3, 4)).tostype(stype)
        assert (1 == y).stype == stype and (0 == y).stype == "default"
        assert (y > 0).stype == stype and (0 > y).stype == stype and (y >= 0).stype == "default"
        np.testing.assert_array_equal((y > 0).asnumpy(), np.ones((3, 4)))
        assert y._num_aux == (2 if stype == "csr" else 1)
        assert mx.nd.empty((2, 3), stype=stype).stype == stype
    # MXNet raises ValueError here; these are MXNetErrors that are ValueErrors too
    with pytest.raises(ValueError):
        sparse.csr_matrix(mx.nd.ones((2, 2)), shape=(3, 2))
    with pytest.raises(ValueError):
        sparse.row_sparse_array((2, 2), shape=(3, 2))
    with pytest.raises(ValueError):
        sparse.zeros("invalid_stype", (2, 2))
    with pytest.raises(MXNetError, match="unknown argument"):
        sparse.retain(mx.nd.ones((2, 2)).tostype("row_sparse"), invalid_arg=1)
