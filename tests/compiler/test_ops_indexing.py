"""Shape and indexing operators (compiler/ops/shape_ops.py, compiler/ops/indexing.py): the
compiled forward against NumPy expressions written independently of the registry, gradients
against float64 central differences, index inputs read as MXNet reads them (truncated,
clipped / wrapped, or refused with a message), mx.nd through the NumPy references, and the
CUDA kernels built with nvcc. Several operators share one graph, so each group compiles once
or twice."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.ops import REGISTRY
from mxc.compiler.ops.base import ShapeError
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def _uniform(shape, seed):
    return np.random.RandomState(seed).uniform(-1, 1, size=shape)


def _check(outputs, location, expected, grad_nodes=None):
    sym = mx.sym.Group(outputs) if isinstance(outputs, list) else outputs
    tu.check_symbolic_forward(sym, location, expected, rtol=1e-12, atol=1e-14,
                              dtype=np.float64)
    tu.check_numeric_gradient(sym, location, grad_nodes=grad_nodes, numeric_eps=1e-5,
                              rtol=1e-6, atol=1e-8)


def _forward(sym, location, dtype=np.float64):
    ex = sym.simple_bind(mx.cpu(), grad_req="null", type_dict={k: dtype for k in location},
                         **{k: v.shape for k, v in location.items()})
    ex.forward(is_train=False, **location)
    return [o.asnumpy() for o in ex.outputs]


# ---- gathers of one input -------------------------------------------------------------------

def _one_input_cases(x):
    return [
        (mx.sym.SwapAxis(x, dim1=0, dim2=2), lambda v: np.swapaxes(v, 0, 2)),
        (mx.sym.swapaxes(x, dim1=-1, dim2=1), lambda v: np.swapaxes(v, 2, 1)),
        (mx.sym.tile(x, reps=(2, 1, 3)), lambda v: np.tile(v, (2, 1, 3))),
        (mx.sym.tile(x, reps=(2,)), lambda v: np.tile(v, 2)),
        (mx.sym.tile(x, reps=(2, 1, 1, 1)), lambda v: np.tile(v, (2, 1, 1, 1))),
        (mx.sym.repeat(x, repeats=2, axis=1), lambda v: np.repeat(v, 2, axis=1)),
        (mx.sym.repeat(x, repeats=3, axis=-1), lambda v: np.repeat(v, 3, axis=-1)),
        (mx.sym.repeat(x, repeats=2), lambda v: np.repeat(v, 2)),
        (mx.sym.flip(x, axis=(0, 2)), lambda v: v[::-1, :, ::-1]),
        (mx.sym.reverse(x, axis=1), lambda v: v[:, ::-1]),
        (mx.sym.slice(x, begin=(None, 1), end=(None, None)), lambda v: v[:, 1:]),
        (mx.sym.slice(x, begin=(1, None, -1), end=(None, 0, None), step=(1, -1, -2)),
         lambda v: v[1:, :0:-1, -1::-2]),
        (mx.sym.crop(x, begin=(0, 0, 1), end=(1, 3, 4)), lambda v: v[0:1, 0:3, 1:4]),
        (mx.sym.slice(x, begin=(-1,), end=(None,), step=(-1,)), lambda v: v[::-1]),
        (mx.sym.squeeze(mx.sym.slice_axis(x, axis=1, begin=1, end=2)), lambda v: v[:, 1]),
        (mx.sym.squeeze(mx.sym.expand_dims(x, axis=0), axis=0), lambda v: v),
    ]


def test_one_input_gathers_match_numpy_and_central_differences():
    x = mx.sym.Variable("x")
    xv = _uniform((2, 3, 4), 0)
    syms, refs = zip(*_one_input_cases(x))
    _check(list(syms), {"x": xv}, [f(xv) for f in refs])


def _gathered(G):
    """The source index of every output element, by the arithmetic of ops/gather_map.c.j2."""
    src = np.full(G["N"], G["base"], dtype=np.int64)
    rem = np.arange(G["N"], dtype=np.int64)
    for k, (size, div, mod, stride) in enumerate(G["dims"]):
        c = rem if (k == len(G["dims"]) - 1 and G["whole"]) else rem % size
        c = c // div
        if mod is not None:
            c = c % mod
        src += c * stride
        rem = rem // size
    return src


@pytest.mark.parametrize("seed", range(3))
def test_gather_maps_match_numpy_on_random_shapes(seed):
    """Every gather operator's index map (no compile) against the operator's NumPy reference
    applied to arange: random shapes and parameters, including unit dims and negative steps."""
    rs = np.random.RandomState(seed)
    checked = 0
    for _ in range(40):
        nd = rs.randint(1, 5)
        shape = tuple(int(v) for v in rs.randint(1, 5, size=nd))
        ax = int(rs.randint(-nd, nd))
        begin = tuple(None if rs.rand() < 0.3 else int(rs.randint(-d, d)) for d in shape)
        end = tuple(None if rs.rand() < 0.3 else int(rs.randint(-d, d + 1)) for d in shape)
        step = tuple(int(rs.choice([-2, -1, 1, 2, 3])) for _ in shape)
        cases = [("SwapAxis", dict(dim1=ax, dim2=int(rs.randint(0, nd)))),
                 ("tile", dict(reps=tuple(int(v) for v in rs.randint(1, 4,
                                                                      size=rs.randint(1, 5))))),
                 ("repeat", dict(repeats=int(rs.randint(1, 4)), axis=ax)),
                 ("repeat", dict(repeats=int(rs.randint(1, 4)), axis=None)),
                 ("reverse", dict(axis=tuple(sorted({ax % nd, int(rs.randint(0, nd))})))),
                 ("slice", dict(begin=begin, end=end, step=step)),
                 ("broadcast_to", dict(shape=tuple(d if d > 1 else int(rs.randint(1, 4))
                                                   for d in shape))),
                 ("squeeze", dict(axis=None))]
        data = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        for name, params in cases:
            op = REGISTRY[name]
            p = op.parse_params({k: str(v) for k, v in params.items()})
            try:
                out_shape = op.shape_rule(p, [shape])[1][0]
            except ShapeError:
                continue                          # e.g. a slice that selects nothing
            G = op.geometry(_View(p, {op._src: shape, "output": out_shape}))
            want = op.reference(p, [data])[0].ravel().astype(np.int64)
            np.testing.assert_array_equal(_gathered(G), want, err_msg="%s %s %s"
                                          % (name, shape, params))
            checked += 1
    assert checked > 250


class _View:
    """The two fields of a node view that an operator's geometry reads."""

    def __init__(self, p, shape):
        self.p, self.shape = p, shape


def test_broadcast_to_and_broadcast_axis():
    x = mx.sym.Variable("x")
    xv = _uniform((2, 1, 3, 1), 1)
    outs = [mx.sym.broadcast_to(x, shape=(2, 4, 3, 2)), mx.sym.broadcast_to(x, shape=(0, 5, 0, 0)),
            mx.sym.broadcast_axis(x, axis=(1, 3), size=(2, 3)),
            mx.sym.broadcast_axes(x, axis=-1, size=4)]
    want = [np.broadcast_to(xv, (2, 4, 3, 2)), np.broadcast_to(xv, (2, 5, 3, 1)),
            np.broadcast_to(xv, (2, 2, 3, 3)), np.broadcast_to(xv, (2, 1, 3, 4))]
    _check(outs, {"x": xv}, want)


def test_gathers_with_a_shape_input_give_it_no_gradient():
    x, like = mx.sym.Variable("x"), mx.sym.Variable("like")
    xv, likev = _uniform((2, 1, 6, 5), 2), _uniform((2, 3, 4, 3), 3)
    outs = [mx.sym.broadcast_like(x, like, lhs_axes=(1,), rhs_axes=(1,)),
            mx.sym.broadcast_like(mx.sym.slice_axis(x, axis=3, begin=0, end=1), like,
                                  lhs_axes=(1, 3), rhs_axes=(1, 2)),
            mx.sym.broadcast_like(mx.sym.slice(x, begin=(0, 0, 0, 0), end=(2, 1, 4, 1)), like),
            mx.sym.slice_like(x, like, axes=(2, -1)),
            mx.sym.slice_like(mx.sym.broadcast_like(x, like, lhs_axes=(1,), rhs_axes=(1,)),
                              like),
            mx.sym.reshape_like(x, like, lhs_begin=-3, lhs_end=-1, rhs_begin=0, rhs_end=-2),
            mx.sym.reshape_like(mx.sym.slice(x, begin=(0, 0, 0, 1), end=(2, 1, 6, 3)), like,
                                lhs_begin=1, rhs_begin=2),
            mx.sym.Crop(x, like, num_args=2),
            mx.sym.Crop(x, like, num_args=2, center_crop=True),
            mx.sym.Crop(x, h_w=(3, 2), offset=(2, 1))]
    want = [np.broadcast_to(xv, (2, 3, 6, 5)), np.broadcast_to(xv[:, :, :, :1], (2, 3, 6, 4)),
            np.broadcast_to(xv[:, :, :4, :1], (2, 3, 4, 3)), xv[:, :, :4, :3],
            np.broadcast_to(xv, (2, 3, 6, 5))[:, :, :4, :3],
            xv.reshape(2, 2, 3, 5), xv[:, :, :, 1:3].reshape(2, 4, 3),
            xv[:, :, :4, :3], xv[:, :, 1:5, 1:4], xv[:, :, 2:5, 1:3]]
    loc = {"x": xv, "like": likev}
    _check(outs, loc, want, grad_nodes=["x"])
    grads = tu.check_symbolic_backward(mx.sym.Group(outs), loc, [np.ones(w.shape) for w in want],
                                       {"like": np.zeros(likev.shape)}, dtype=np.float64)
    assert np.all(grads["x"] != 0)


def test_split_v2_sections_and_split_points():
    x = mx.sym.Variable("x")
    xv = _uniform((2, 7, 3), 20)
    outs = list(mx.sym.split_v2(x, 3, axis=1)) + list(mx.sym.split_v2(x, (2, 5), axis=1))
    outs += list(mx.sym.split_v2(x, 3, axis=-1, squeeze_axis=True))
    outs += list(mx.sym._split_v2(x, indices=(2, 4), axis=1))     # nothing before index 2
    want = np.array_split(xv, 3, axis=1) + np.split(xv, [2, 5], axis=1)
    want += [xv[:, :, k] for k in range(3)] + [xv[:, 2:4], xv[:, 4:]]
    _check(outs, {"x": xv}, want)
    parts = mx.nd.split_v2(mx.nd.array(xv), (1, 4), axis=1)
    assert [p.shape for p in parts] == [(2, 1, 3), (2, 3, 3), (2, 3, 3)]
    assert mx.sym.split_v2(x, 2, name="halves").list_outputs() == ["halves_output0",
                                                                   "halves_output1"]
    with pytest.raises(ValueError, match="indices_or_sections"):
        mx.sym.split_v2(x, [1, 2])
    with pytest.raises(MXNetError, match="squeeze_axis"):
        mx.sym.split_v2(x, 2, axis=1, squeeze_axis=True).infer_shape(x=(2, 4, 3))


# ---- stack / add_n / where ---------------------------------------------------------------------

def test_stack_add_n_and_where():
    a, b, c = mx.sym.Variable("a"), mx.sym.Variable("b"), mx.sym.Variable("c")
    cond, row = mx.sym.Variable("cond"), mx.sym.Variable("row")
    av, bv, cv = _uniform((3, 4), 4), _uniform((3, 4), 5), _uniform((3, 4), 6)
    condv = np.array([[1, 0, 0, 2], [0, 0, 1, 1], [-1, 0, 0, 0.5]])
    rowv = np.array([0, 1, 0])
    outs = [mx.sym.stack(a, b, c), mx.sym.stack(a, b, axis=1), mx.sym.stack(a, c, axis=-1),
            mx.sym.add_n(a, b, c), mx.sym.ElementWiseSum(a, b, name="esum"),
            mx.sym.where(cond, a, b), mx.sym.where(row, b, c)]
    want = [np.stack([av, bv, cv]), np.stack([av, bv], axis=1), np.stack([av, cv], axis=2),
            av + bv + cv, av + bv, np.where(condv != 0, av, bv),
            np.where(rowv[:, None] != 0, bv, cv)]
    loc = {"a": av, "b": bv, "c": cv, "cond": condv, "row": rowv}
    _check(outs, loc, want, grad_nodes=["a", "b", "c"])
    assert mx.sym.add_n(a, b).list_arguments() == ["a", "b"]


# ---- take / pick / batch_take --------------------------------------------------------------------

def test_take_modes_along_any_axis():
    a, idx = mx.sym.Variable("a"), mx.sym.Variable("idx")
    av = _uniform((3, 4, 5), 7)
    iv = np.array([[0, 3.7], [-1.5, 9], [2, -6]])       # truncated toward zero, as MXNet casts
    ints = np.trunc(iv).astype(np.int64)
    outs = [mx.sym.take(a, idx), mx.sym.take(a, idx, axis=1), mx.sym.take(a, idx, axis=-1,
                                                                          mode="wrap"),
            mx.sym.take(a, idx, axis=1, mode="wrap")]
    want = [np.take(av, ints, axis=0, mode="clip"), np.take(av, ints, axis=1, mode="clip"),
            np.take(av, ints, axis=2, mode="wrap"), np.take(av, ints, axis=1, mode="wrap")]
    _check(outs, {"a": av, "idx": iv}, want, grad_nodes=["a"])


def test_non_finite_and_huge_indices_stay_in_bounds():
    """NaN reads as 0; clip sends +-inf and huge values to the ends; wrap takes the remainder
    of the truncated value (0 for NaN and inf); the compiled kernels and mx.nd agree."""
    a, idx = mx.sym.Variable("a"), mx.sym.Variable("idx")
    av = _uniform((3, 4), 18)
    iv = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, -2.5, 6.9, 3.2])
    got = _forward(mx.sym.Group([mx.sym.take(a, idx, axis=1), mx.sym.take(a, idx, axis=1,
                                                                           mode="wrap")]),
                   {"a": av, "idx": iv})
    np.testing.assert_array_equal(got[0], av[:, [0, 3, 0, 3, 0, 0, 3, 3]])
    np.testing.assert_array_equal(got[1], av[:, [0, 0, 0, 0, 0, 2, 2, 3]])
    for mode, want in zip(("clip", "wrap"), got):
        eager = mx.nd.take(mx.nd.array(av, dtype=np.float64), mx.nd.array(iv, dtype=np.float64),
                           axis=1, mode=mode)
        np.testing.assert_array_equal(eager.asnumpy(), want)


def test_take_raise_refuses_an_index_out_of_range():
    a, idx = mx.sym.Variable("a"), mx.sym.Variable("idx")
    sym = mx.sym.take(a, idx, axis=1, mode="raise", name="pick_rows")
    av = _uniform((2, 3), 8)
    got = _forward(sym, {"a": av, "idx": np.array([2, 0.5, 2.9])})[0]
    np.testing.assert_array_equal(got, av[:, [2, 0, 2]])
    with pytest.raises(MXNetError, match=r"take 'pick_rows': index 3 at position 1 is outside"):
        _forward(sym, {"a": av, "idx": np.array([0, 3.0])})
    with pytest.raises(IndexError, match="index -1 at position 0"):
        mx.nd.take(mx.nd.array(av), mx.nd.array([-1]), axis=1, mode="raise")


def test_pick_and_batch_take():
    d, ix = mx.sym.Variable("d"), mx.sym.Variable("ix")
    dv = _uniform((3, 4), 9)
    ixv = np.array([0, 3.9, 7.0])
    ix0 = mx.sym.Variable("ix0")
    ix0v = np.array([-1.0, 2, 1, 5])
    outs = [mx.sym.pick(d, ix), mx.sym.pick(d, ix, axis=1, mode="wrap", keepdims=True),
            mx.sym.pick(d, ix0, axis=0), mx.sym.pick(d, ix0, axis=0, mode="wrap")]
    rows = np.arange(3)
    want = [dv[rows, [0, 3, 3]], dv[rows, [0, 3, 3]][:, None], dv[[0, 2, 1, 2], np.arange(4)],
            dv[[2, 2, 1, 2], np.arange(4)]]
    _check(outs, {"d": dv, "ix": ixv, "ix0": ix0v}, want, grad_nodes=["d"])
    got = _forward(mx.sym.batch_take(d, ix), {"d": dv, "ix": ixv})[0]
    np.testing.assert_array_equal(got, dv[rows, [0, 3, 3]])


# ---- gather_nd / scatter_nd ------------------------------------------------------------------

def test_gather_nd_and_scatter_nd():
    d, ix = mx.sym.Variable("d"), mx.sym.Variable("ix")
    dv = _uniform((3, 4, 2), 10)
    ixv = np.array([[[0, 2], [-1, 1]], [[1, 3], [0, -4]]])        # 2 rows: axes 0 and 1
    ints = ixv.astype(np.int64)
    _check(mx.sym.gather_nd(d, ix), {"d": dv, "ix": ixv}, [dv[tuple(ints)]], grad_nodes=["d"])
    sv = _uniform((2, 2, 2), 11)
    sixv = np.array([[[0, 2], [2, 1]], [[1, 3], [0, 0]]])
    want = np.zeros((3, 4, 2))
    want[tuple(sixv)] = sv
    _check(mx.sym.scatter_nd(d, ix, shape=(3, 4, 2)), {"d": sv, "ix": sixv}, [want],
           grad_nodes=["d"])
    gathered = mx.nd.gather_nd(mx.nd.array(dv), mx.nd.array(ixv))
    np.testing.assert_allclose(gathered.asnumpy(), dv[tuple(ints)].astype(np.float32))
    with pytest.raises(IndexError, match="index -5 at position 1 is out of bounds for axis 0"):
        mx.nd.gather_nd(mx.nd.array(dv), mx.nd.array([[0, -5]]))


def test_nd_indices_out_of_bounds_fail_with_the_node_name():
    d, ix = mx.sym.Variable("d"), mx.sym.Variable("ix")
    dv = _uniform((3, 4), 12)
    with pytest.raises(MXNetError, match=r"gather_nd 'g': index 4 at position 3 is out of "
                                         r"bounds for axis 1 with size 4"):
        _forward(mx.sym.gather_nd(d, ix, name="g"), {"d": dv, "ix": np.array([[0, 1], [2, 4]])})
    with pytest.raises(MXNetError, match=r"scatter_nd 's': index -1 at position 1"):
        _forward(mx.sym.scatter_nd(d, ix, shape=(3, 4), name="s"),
                 {"d": _uniform((2, 4), 13), "ix": np.array([[0, -1]])})


# ---- Sequence* -----------------------------------------------------------------------------------

def _seq_loops(xv, lengths, value):
    """Time-major mask / last / reverse written as loops over sequences."""
    t_len, batch = xv.shape[:2]
    mask, last, rev = xv.copy(), np.empty((batch,) + xv.shape[2:]), xv.copy()
    for b in range(batch):
        n = int(lengths[b])
        for t in range(t_len):
            if t >= n:
                mask[t, b] = value
            if t < n:
                rev[t, b] = xv[n - 1 - t, b]
        last[b] = xv[n - 1, b]
    return mask, last, rev


def test_sequence_operators():
    x, ln = mx.sym.Variable("x"), mx.sym.Variable("ln")
    xv = _uniform((4, 3, 2), 14)
    lv = np.array([1, 4, 2.5])
    mask, last, rev = _seq_loops(xv, [1, 4, 2], -7.0)
    xb = np.swapaxes(xv, 0, 1)                       # batch-major (3, 4, 2) for axis=1
    bm = mx.sym.Variable("xb")
    outs = [mx.sym.SequenceMask(x, ln, use_sequence_length=True, value=-7),
            mx.sym.SequenceLast(x, ln, use_sequence_length=True),
            mx.sym.SequenceReverse(x, ln, use_sequence_length=True),
            mx.sym.SequenceLast(x), mx.sym.SequenceReverse(x), mx.sym.SequenceMask(x),
            mx.sym.SequenceMask(bm, ln, use_sequence_length=True, value=-7, axis=1),
            mx.sym.SequenceLast(bm, ln, use_sequence_length=True, axis=1)]
    want = [mask, last, rev, xv[-1], xv[::-1], xv, np.swapaxes(mask, 0, 1), last]
    _check(outs, {"x": xv, "ln": lv, "xb": xb}, want, grad_nodes=["x", "xb"])


def test_sequence_lengths_out_of_range_fail():
    x, ln = mx.sym.Variable("x"), mx.sym.Variable("ln")
    xv = _uniform((4, 2), 15)
    sym = mx.sym.SequenceLast(x, ln, use_sequence_length=True, name="last")
    with pytest.raises(MXNetError, match=r"SequenceLast 'last': sequence_length 0.5 at "
                                         r"position 1 is outside \[1, 4\]"):
        _forward(sym, {"x": xv, "ln": np.array([2, 0.5])})
    with pytest.raises(MXNetError, match=r"sequence_length 5 at position 0 is outside \[0, 4\]"):
        _forward(mx.sym.SequenceReverse(x, ln, use_sequence_length=True),
                 {"x": xv, "ln": np.array([5, 1])})
    got = _forward(mx.sym.SequenceMask(x, ln, use_sequence_length=True, value=3),
                   {"x": xv, "ln": np.array([9, -2])})[0]
    np.testing.assert_array_equal(got, np.stack([xv[:, 0], np.full(4, 3.0)], axis=1))


# ---- shape_array / size_array, mx.nd, parameters and shape errors ------------------------------

def test_shape_array_and_size_array():
    x = mx.sym.Variable("x")
    xv = _uniform((2, 3, 5), 16)
    got = _forward(mx.sym.Group([mx.sym.shape_array(x), mx.sym.size_array(x)]), {"x": xv})
    np.testing.assert_array_equal(got[0], [2, 3, 5])
    np.testing.assert_array_equal(got[1], [30])
    assert mx.nd.shape_array(mx.nd.array(xv)).asnumpy().tolist() == [2, 3, 5]
    assert mx.nd.size_array(mx.nd.array(xv)).asnumpy().tolist() == [30]


def test_nd_functions_run_the_references():
    xv = _uniform((2, 3, 4), 17)
    x = mx.nd.array(xv)
    f32 = xv.astype(np.float32)
    np.testing.assert_array_equal(mx.nd.slice(x, begin=(None, 2), end=(None, 0),
                                              step=(None, -1)).asnumpy(), f32[:, 2:0:-1])
    np.testing.assert_array_equal(mx.nd.swapaxes(x, dim1=0, dim2=1).asnumpy(),
                                  np.swapaxes(f32, 0, 1))
    np.testing.assert_array_equal(mx.nd.stack(x, x, axis=3).asnumpy(), np.stack([f32] * 2, 3))
    np.testing.assert_array_equal(mx.nd.add_n(x, x, x).asnumpy(), f32 + f32 + f32)
    np.testing.assert_array_equal(mx.nd.tile(x, reps=(1, 2)).asnumpy(), np.tile(f32, (1, 2)))
    np.testing.assert_array_equal(
        mx.nd.SequenceMask(x, mx.nd.array([1, 2]), use_sequence_length=True,
                           axis=1).asnumpy()[0, 1:], 0)
    np.testing.assert_array_equal(mx.nd.pick(x, mx.nd.array([[0, 1, 2, 0]] * 2), axis=1)
                                  .asnumpy(), np.take_along_axis(f32, np.array(
                                      [[[0, 1, 2, 0]]] * 2), axis=1)[:, 0])


def test_slice_parameters_round_trip_through_json():
    x = mx.sym.Variable("x")
    sym = mx.sym.slice(x, begin=(None, 1), end=(2, None), step=(1, -1), name="s")
    back = mx.sym.load_json(sym.tojson())
    assert back.tojson() == sym.tojson()
    assert back.infer_shape(x=(3, 4))[1] == [(2, 2)]
    unknown = mx.sym.Variable("u", shape=(0, 20))
    assert mx.sym.slice(unknown, begin=(None, 3), end=(None, 10),
                        step=(None, 2)).infer_shape_partial()[1] == [(0, 4)]
    bad = mx.sym.slice(x, begin=(0,), end=(2,), step=(0,))
    with pytest.raises(MXNetError, match="step"):
        bad.infer_shape(x=(3, 4))
    with pytest.raises(MXNetError, match="begin"):
        mx.sym.slice(x, begin="(1, x)", end=(2, 3))


@pytest.mark.parametrize("make,shape,words", [
    (lambda x: mx.sym.broadcast_to(x, shape=(4, 3)), (2, 3), "cannot be broadcast"),
    (lambda x: mx.sym.squeeze(x, axis=1), (2, 3), "axis 1 has size 3"),
    (lambda x: mx.sym.SwapAxis(x, dim1=0, dim2=5), (2, 3), "dim2 5 is out of range"),
    (lambda x: mx.sym.Crop(x, h_w=(5, 5)), (1, 1, 4, 4), "must be positive and fit"),
    (lambda x: mx.sym.slice(x, begin=(2,), end=(1,)), (3, 4), "selects no element"),
])
def test_shape_errors_name_the_node(make, shape, words):
    x = mx.sym.Variable("x")
    with pytest.raises(MXNetError, match=words):
        make(x).infer_shape(x=shape)


# ---- CUDA ----------------------------------------------------------------------------------------

@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    x, like, ix, ln = (mx.sym.Variable(n) for n in ("x", "like", "ix", "ln"))
    outs = [s for s, _ in _one_input_cases(x)]
    outs += [mx.sym.broadcast_to(mx.sym.slice_axis(x, axis=1, begin=0, end=1), shape=(2, 5, 4)),
             mx.sym.slice_like(x, like, axes=(1,)), mx.sym.Crop(mx.sym.expand_dims(x, axis=0),
                                                                h_w=(2, 2), center_crop=True),
             mx.sym.stack(x, x, axis=1), mx.sym.add_n(x, x, x), mx.sym.where(x, x, x),
             mx.sym.take(x, ix, axis=1, mode="raise"), mx.sym.take(x, ix, mode="wrap"),
             mx.sym.pick(x, ix, mode="wrap"),
             mx.sym.batch_take(x, ix),
             mx.sym.gather_nd(x, mx.sym.reshape(ix, shape=(2, 3))),
             mx.sym.scatter_nd(ln, ix, shape=(3, 4)),
             mx.sym.SequenceMask(x, ln, use_sequence_length=True),
             mx.sym.SequenceLast(x, ln, use_sequence_length=True),
             mx.sym.SequenceReverse(x, ln, use_sequence_length=True),
             mx.sym.shape_array(x), mx.sym.size_array(x)]
    outs += list(mx.sym._split_v2(x, indices=(1, 2), axis=1))
    shapes = {"x": (2, 3, 4), "like": (2, 2, 4), "ix": (2, 3), "ln": (3,)}
    plan = make_plan(mx.sym.Group(outs), shapes, list(shapes), [],
                     grad_req={"x": "write", "ix": "write", "ln": "write"})
    assert cuda.serial_ops(plan) == []
    src, cdef = cuda.render(plan)
    for name in ("take", "gather_nd", "scatter_nd", "sequencelast"):
        assert "mxc_dev_fail" in src and name in src
    assert "atomicAdd(&" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
