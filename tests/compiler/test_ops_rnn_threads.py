"""The fused RNN's element-wise cell loops split over OpenMP threads once batch x hidden reaches
CELL_PARALLEL_MIN (lowered here so small shapes take the threaded path): the threaded kernels
against the NumPy reference (forward) and against float64 central differences along random
directions (backward), for every mode with two layers, two directions and state outputs;
shorter loops stay on one thread."""
import numpy as np
import pytest

import mxc as mx
from mxc.compiler import codegen, ops
from mxc.compiler.ops import rnn as rnn_op
from mxc.compiler.plan import make_plan
from mxc.executor import Executor

T, N, I, H = 3, 8, 5, 64           # N * H = 512 elements per cell loop
THREADED_FROM = 512


@pytest.fixture
def threaded(monkeypatch):
    monkeypatch.setattr(rnn_op, "CELL_PARALLEL_MIN", THREADED_FROM)


def rnn(mode, hidden=H, name="r", **kw):
    return mx.sym.RNN(mx.sym.Variable("data"), state_size=hidden, num_layers=2, mode=mode,
                      bidirectional=True, state_outputs=True, name=name, **kw)


def source(sym, shapes):
    plan = make_plan(sym, shapes, ["data"], [], grad_req={k: "write"
                                                          for k in sym.list_arguments()})
    return codegen.render(plan, kinds=[])[0]


def test_long_cell_loops_are_threaded_and_short_ones_are_not(monkeypatch):
    pragma = 'MXC_OMP("omp parallel for schedule(static)")'
    assert pragma not in source(rnn("lstm"), {"data": (T, N, I)})     # the default
    monkeypatch.setattr(rnn_op, "CELL_PARALLEL_MIN", THREADED_FROM)
    long_src = source(rnn("lstm"), {"data": (T, N, I)})
    short_src = source(rnn("lstm", hidden=4), {"data": (T, 2, I)})
    # forward cell and backward cell of each (layer, direction) at least
    assert long_src.count(pragma) >= 2
    assert pragma not in short_src


def _executor(sym, rng):
    shapes = {"data": (T, N, I)}
    ex = Executor(sym, shapes, data_names=["data"], dtype="float64",
                  grad_req={k: "write" for k in sym.list_arguments()})
    values = {}
    for k, arr in ex.arg_arrays.items():
        values[k] = rng.uniform(-0.3, 0.3, arr.shape)
        arr[...] = values[k]
    return ex, values


@pytest.mark.parametrize("mode", ["lstm", "lstmp", "gru", "rnn_tanh", "rnn_relu"])
def test_threaded_cells_match_numpy_and_central_differences(mode, threaded):
    # its own node name: no library built under the default threshold has this fingerprint
    kw = dict(projection_size=32) if mode == "lstmp" else {}
    mode = "lstm" if mode == "lstmp" else mode
    sym = rnn(mode, name="par", **kw)
    rng = np.random.RandomState(5)
    ex, values = _executor(sym, rng)
    assert 'MXC_OMP("omp parallel for schedule(static)")' in source(sym, {"data": (T, N, I)})
    op = ops.get("RNN")
    p = op.parse_params(dict(state_size=H, num_layers=2, mode=mode, bidirectional=True,
                             state_outputs=True, **kw))
    want = op.reference(p, [values[n] for n in ("data", "par_parameters", "par_state",
                                                "par_state_cell")[:len(op.input_names(p))]])
    ex.forward(True)
    for got, w in zip(ex.outputs, want[:op.num_visible(p)]):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)

    # backward: f = sum(outputs * heads); the gradient along random directions v of every
    # input against (f(x + eps v) - f(x - eps v)) / (2 eps)
    heads = [rng.uniform(-1, 1, o.shape) for o in ex.outputs]
    for hg, h in zip(ex.head_grads, heads):
        hg[...] = h
    ex.backward()
    grads = {k: g.copy() for k, g in ex.grad_arrays.items()}

    def f(shift):
        for k in values:
            ex.arg_arrays[k][...] = values[k] + shift.get(k, 0)
        ex.forward(True)
        return sum(float((o * h).sum()) for o, h in zip(ex.outputs, heads))
    eps = 1e-6
    for trial in range(3):
        v = {k: rng.uniform(-1, 1, a.shape) for k, a in values.items()}
        numeric = (f({k: eps * d for k, d in v.items()})
                   - f({k: -eps * d for k, d in v.items()})) / (2 * eps)
        analytic = sum(float((grads[k] * v[k]).sum()) for k in v)
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (trial, numeric,
                                                                           analytic)
