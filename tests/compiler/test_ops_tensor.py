"""Tensor operators: forward against NumPy formulas, backward by numeric gradients (float64).

Several ops share one graph (mx.sym.Group) so each group compiles once or twice.
"""
import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError


def _check(outputs, location, expected, rtol=1e-3, atol=1e-6, grad=True):
    sym = mx.sym.Group(outputs) if isinstance(outputs, list) else outputs
    tu.check_symbolic_forward(sym, location, expected, rtol=1e-10, atol=1e-12,
                              dtype=np.float64)
    if grad:
        tu.check_numeric_gradient(sym, location, numeric_eps=1e-5, rtol=rtol, atol=atol)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_unary_ops():
    rs = np.random.RandomState(0)
    xv = rs.uniform(0.5, 2.0, size=(3, 5))
    x = mx.sym.Variable("x")
    outs = [mx.sym.exp(x), mx.sym.log(x), mx.sym.sqrt(x), mx.sym.square(x),
            mx.sym.abs(x - 1.2), mx.sym.negative(x), mx.sym.tanh(x - 1), mx.sym.sigmoid(x - 1),
            mx.sym.relu(x - 1.1), mx.sym.clip(x, a_min=0.8, a_max=1.5),
            mx.sym.zeros_like(x), mx.sym.ones_like(x)]
    want = [np.exp(xv), np.log(xv), np.sqrt(xv), xv ** 2, np.abs(xv - 1.2), -xv,
            np.tanh(xv - 1), _sigmoid(xv - 1), np.maximum(xv - 1.1, 0), np.clip(xv, 0.8, 1.5),
            np.zeros_like(xv), np.ones_like(xv)]
    _check(outs, {"x": xv}, want)


def test_scalar_and_symbol_operators():
    rs = np.random.RandomState(1)
    xv, yv = rs.uniform(0.5, 2.0, size=(2, 7)), rs.uniform(0.5, 2.0, size=(2, 7))
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    outs = [x + 2, 3 + x, x - 1.5, 2 - x, x * 2.5, 2 * x, x / 4, 2 / x, x ** 2, x ** 1.5,
            2 ** x, -x, x + y, x - y, x * y, x / y, x ** y, abs(x - y)]
    want = [xv + 2, 3 + xv, xv - 1.5, 2 - xv, xv * 2.5, 2 * xv, xv / 4, 2 / xv, xv ** 2,
            xv ** 1.5, 2 ** xv, -xv, xv + yv, xv - yv, xv * yv, xv / yv, xv ** yv,
            np.abs(xv - yv)]
    _check(outs, {"x": xv, "y": yv}, want)


@pytest.mark.parametrize("ls,rs_", [((2, 3, 4), (3, 1)), ((2, 1, 5), (1, 3, 1)),
                                    ((3, 5), (5,))])
def test_broadcast_ops(ls, rs_):
    rs = np.random.RandomState(2)
    av, bv = rs.uniform(0.5, 2.0, size=ls), rs.uniform(0.5, 2.0, size=rs_)
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "maximum": np.maximum, "minimum": np.minimum, "power": np.power}
    outs = [getattr(mx.sym, "broadcast_" + k)(a, b) for k in ops]
    _check(outs, {"a": av, "b": bv}, [f(av, bv) for f in ops.values()])


def test_elemwise_ops_require_equal_shapes_and_broadcast_mismatch_is_named():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    with pytest.raises(MXNetError, match="elemwise_add"):
        mx.sym.elemwise_add(a, b, name="s").infer_shape(a=(2, 3), b=(3,))
    with pytest.raises(MXNetError, match="broadcast"):
        mx.sym.broadcast_add(a, b, name="bc").infer_shape(a=(2, 3), b=(4,))
    rs = np.random.RandomState(3)
    av, bv = rs.normal(size=(3, 4)), rs.uniform(1, 2, size=(3, 4))
    outs = [mx.sym.elemwise_add(a, b), mx.sym.elemwise_sub(a, b), mx.sym.elemwise_mul(a, b),
            mx.sym.elemwise_div(a, b)]
    _check(outs, {"a": av, "b": bv}, [av + bv, av - bv, av * bv, av / bv])


@pytest.mark.parametrize("dshape,code,want", [
    ((2, 3, 4), (0, -1), (2, 12)), ((2, 3, 4), (-1,), (24,)), ((2, 3, 4), (2, -2), (2, 3, 4)),
    ((2, 3, 4), (-3, -2), (6, 4)), ((2, 3, 4), (-4, 1, 2, -2), (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), (2, 1, 3, 4)), ((2, 3, 4), (-2, 1, 1), (2, 3, 4, 1, 1)),
    ((10, 5, 4), (-1, 0), (40, 5))])
def test_reshape_codes(dshape, code, want):
    _, out, _ = mx.sym.reshape(mx.sym.Variable("d"), shape=code).infer_shape(d=dshape)
    assert out == [want]


def test_reshape_reverse_and_bad_target():
    d = mx.sym.Variable("d")
    _, out, _ = mx.sym.Reshape(d, shape=(-1, 0), reverse=True).infer_shape(d=(10, 5, 4))
    assert out == [(50, 4)]
    with pytest.raises(MXNetError, match="Reshape"):
        mx.sym.Reshape(d, shape=(7, -1), name="r").infer_shape(d=(2, 3, 4))


def test_shape_ops_forward_and_gradient():
    rs = np.random.RandomState(4)
    xv, yv = rs.normal(size=(2, 3, 5)), rs.normal(size=(2, 4, 5))
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    parts = mx.sym.split(x, num_outputs=3, axis=1, squeeze_axis=True)
    outs = [mx.sym.flatten(x) * 2, mx.sym.Reshape(x, shape=(-1, 0), reverse=True) + 1,
            mx.sym.expand_dims(x, axis=-1) * 3, mx.sym.Cast(x, dtype="float64") - 1,
            mx.sym.transpose(x, axes=(2, 0, 1)) * 2, mx.sym.transpose(x) + 0,
            mx.sym.Concat(x, y, x, dim=1) * 3, mx.sym.concat(x, y, dim=-2) + 1,
            parts[0] * 2, parts[2] * 3, mx.sym.slice_axis(y, axis=1, begin=-3, end=None) * 2,
            mx.sym.slice_axis(x, axis=2, begin=1, end=-1) * 3]
    want = [xv.reshape(2, 15) * 2, xv.reshape(6, 5) + 1, xv[..., None] * 3, xv - 1,
            xv.transpose(2, 0, 1) * 2, xv.transpose(2, 1, 0), np.concatenate([xv, yv, xv], 1) * 3,
            np.concatenate([xv, yv], 1) + 1, xv[:, 0] * 2, xv[:, 2] * 3, yv[:, 1:] * 2,
            xv[:, :, 1:4] * 3]
    _check(outs, {"x": xv, "y": yv}, want)


def test_split_outputs_without_squeeze():
    rs = np.random.RandomState(5)
    xv = rs.normal(size=(4, 6))
    s = mx.sym.SliceChannel(mx.sym.Variable("x"), num_outputs=2, axis=0, name="sc")
    assert s.list_outputs() == ["sc_output0", "sc_output1"]
    _check(s, {"x": xv}, [xv[:2], xv[2:]])
    with pytest.raises(MXNetError, match="divisible"):
        mx.sym.split(mx.sym.Variable("x"), num_outputs=4, axis=1).infer_shape(x=(4, 6))


def test_reductions():
    rs = np.random.RandomState(6)
    xv = rs.normal(size=(3, 4, 5))
    x = mx.sym.Variable("x")
    outs = [mx.sym.sum(x), mx.sym.sum(x, axis=1), mx.sym.sum(x, axis=(0, 2), keepdims=True),
            mx.sym.mean(x, axis=-1), mx.sym.mean(x, axis=1, exclude=True),
            mx.sym.max(x, axis=(1, 2)), mx.sym.min(x, axis=0, keepdims=True),
            mx.sym.max(x)]
    want = [xv.sum().reshape(1), xv.sum(axis=1), xv.sum(axis=(0, 2), keepdims=True),
            xv.mean(axis=-1), xv.mean(axis=(0, 2)), xv.max(axis=(1, 2)),
            xv.min(axis=0, keepdims=True), xv.max().reshape(1)]
    _check(outs, {"x": xv}, want)


def test_dot_and_batch_dot():
    rs = np.random.RandomState(7)
    loc = {"a": rs.normal(size=(3, 5)), "at": rs.normal(size=(5, 3)), "b": rs.normal(size=(5, 4)),
           "bt": rs.normal(size=(4, 5)), "n3": rs.normal(size=(2, 3, 5)),
           "v": rs.normal(size=(5,)), "ba": rs.normal(size=(2, 3, 4)),
           "bb": rs.normal(size=(2, 4, 3)), "bc": rs.normal(size=(2, 5, 4))}
    s = {k: mx.sym.Variable(k) for k in loc}
    outs = [mx.sym.dot(s["a"], s["b"]), mx.sym.dot(s["at"], s["b"], transpose_a=True),
            mx.sym.dot(s["a"], s["bt"], transpose_b=True),
            mx.sym.dot(s["at"], s["bt"], transpose_a=True, transpose_b=True),
            mx.sym.dot(s["n3"], s["b"]), mx.sym.dot(s["v"], s["v"]),
            mx.sym.batch_dot(s["ba"], s["bb"]),
            mx.sym.batch_dot(s["bb"], s["bb"], transpose_a=True),
            mx.sym.batch_dot(s["ba"], s["bc"], transpose_b=True)]
    v = loc
    want = [v["a"] @ v["b"], v["at"].T @ v["b"], v["a"] @ v["bt"].T, v["at"].T @ v["bt"].T,
            v["n3"] @ v["b"], np.dot(v["v"], v["v"]).reshape(1), v["ba"] @ v["bb"],
            v["bb"].transpose(0, 2, 1) @ v["bb"], v["ba"] @ v["bc"].transpose(0, 2, 1)]
    _check(outs, loc, want)
    with pytest.raises(MXNetError, match="inner dimensions"):
        mx.sym.dot(s["a"], s["a"], name="bad").infer_shape(a=(3, 5))


def test_one_hot_forward_and_no_index_gradient():
    idx = np.array([[0, 3], [1, 7]], dtype=np.float64)
    ind = mx.sym.Variable("i")
    sym = mx.sym.one_hot(ind, depth=4, on_value=2.0, off_value=-1.0)
    want = np.full((2, 2, 4), -1.0)
    for (r, c), k in np.ndenumerate(idx):
        if k < 4:
            want[r, c, int(k)] = 2.0
    _check(sym, {"i": idx}, [want], grad=False)
    grads = tu.check_symbolic_backward(sym, {"i": idx}, [np.ones((2, 2, 4))],
                                       {"i": np.zeros((2, 2))}, dtype=np.float64)
    assert not grads["i"].any()
    # depth 0 (MXNet allows it): an empty last axis; under legacy shapes a 0 is an unknown
    # dimension, so only the imperative form has it
    empty = mx.nd.one_hot(mx.nd.array(idx), depth=0)
    assert empty.shape == (2, 2, 0) and empty.asnumpy().size == 0


def test_numpy_scalars_in_tuple_parameters_are_written_as_mxnet_writes_them():
    x = mx.sym.Variable("x")
    y = mx.sym.Reshape(x, shape=(np.int64(2), np.int32(-1)), name="r")
    z = mx.sym.transpose(y, axes=[np.int64(1), np.int64(0)], name="t")
    attrs = {n["name"]: n.get("attrs") for n in __import__("json").loads(z.tojson())["nodes"]}
    assert attrs["r"]["shape"] == "(2, -1)"
    assert attrs["t"]["axes"] == "[1, 0]"
    tu.check_symbolic_forward(z, {"x": np.arange(6.0).reshape(3, 2)},
                              [np.arange(6.0).reshape(2, 3).T], dtype=np.float64)


def test_amp_cast_passes_values_and_gradients_through():
    x = np.random.default_rng(2).uniform(-2, 2, (3, 4))
    sym = mx.sym.amp_cast(mx.sym.Variable("x"), dtype="float64")
    tu.check_symbolic_forward(sym, {"x": x}, [x], rtol=0, atol=0, dtype=np.float64)
    tu.check_numeric_gradient(sym, {"x": x}, numeric_eps=1e-6, rtol=1e-6, dtype=np.float64)
    with pytest.raises(mx.base.MXNetError, match="dtype"):
        mx.sym.amp_cast(mx.sym.Variable("x"), dtype="int32")
