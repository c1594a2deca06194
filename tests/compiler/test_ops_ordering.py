"""Ordering operators (argmax, argmin, argmax_channel, topk, sort, argsort), reductions (prod,
nansum, nanprod, norm), softmin and softmax_cross_entropy: compiled forward against NumPy
written here, gradients against float64 central differences and closed forms, MXNet's
parameter forms (axis=None, k < 1, ret_typ), bad labels, and the CUDA kernels built with nvcc."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def _distinct(shape, seed):
    """Distinct values (a shuffled range, scaled), so every order is unambiguous."""
    n = int(np.prod(shape))
    return np.random.RandomState(seed).permutation(n).reshape(shape).astype(np.float64) / 4 - 2


def _take_first(order, k, axis):
    return np.take(order, np.arange(k), axis=axis)


def test_argmax_argmin_forward_against_numpy():
    x = mx.sym.Variable("x")
    v = _distinct((3, 4, 5), 0)
    v[1, 2, 3] = v[1, 2, 1]                    # a tie: the first position wins, as NumPy
    syms = [mx.sym.argmax(x, axis=1), mx.sym.argmin(x, axis=-1, keepdims=True),
            mx.sym.argmax(x), mx.sym.argmin(x, axis=0), mx.sym.argmax_channel(x)]
    want = [np.argmax(v, 1), np.argmin(v, -1)[..., None], np.array([np.argmax(v)]),
            np.argmin(v, 0), np.argmax(v, 1)]
    tu.check_symbolic_forward(mx.sym.Group(syms), {"x": v}, [w.astype(float) for w in want],
                              rtol=0, atol=0, dtype=np.float64)
    # a 1-D input reduces to shape (1,) as MXNet's
    assert mx.nd.argmax(mx.nd.array([1.0, 3.0, 2.0]), axis=0).shape == (1,)


def test_topk_every_return_type_against_numpy():
    x = mx.sym.Variable("x")
    v = _distinct((3, 4, 5), 1)
    desc1 = np.argsort(-v, axis=1)
    asc2 = np.argsort(v, axis=2)
    flat = np.argsort(-v.ravel())[:4]
    mask = np.zeros_like(v)
    np.put_along_axis(mask, _take_first(np.argsort(-v, axis=2), 2, 2), 1, axis=2)
    syms = [mx.sym.topk(x, axis=1, k=2, ret_typ="value"),
            mx.sym.topk(x, axis=2, k=3, ret_typ="indices", is_ascend=True),
            mx.sym.topk(x, axis=None, k=4),
            mx.sym.topk(x, axis=2, k=2, ret_typ="mask"),
            mx.sym.topk(x, axis=0, k=0, ret_typ="both")]       # k < 1: the whole axis
    both = np.argsort(-v, axis=0)
    want = [np.take_along_axis(v, _take_first(desc1, 2, 1), 1),
            _take_first(asc2, 3, 2), flat, mask,
            np.take_along_axis(v, both, 0), both]
    group = mx.sym.Group(syms)
    assert len(group.list_outputs()) == 6
    tu.check_symbolic_forward(group, {"x": v}, [w.astype(float) for w in want], rtol=0,
                              atol=0, dtype=np.float64)


def test_sort_and_argsort_against_numpy():
    x = mx.sym.Variable("x")
    v = _distinct((4, 6), 2)
    syms = [mx.sym.sort(x), mx.sym.sort(x, axis=0, is_ascend=False), mx.sym.argsort(x),
            mx.sym.argsort(x, axis=None, is_ascend=False)]
    want = [np.sort(v, axis=-1), -np.sort(-v, axis=0), np.argsort(v, axis=-1),
            np.argsort(-v.ravel())]
    tu.check_symbolic_forward(mx.sym.Group(syms), {"x": v}, [w.astype(float) for w in want],
                              rtol=0, atol=0, dtype=np.float32)


def test_ties_keep_the_lower_index_first():
    v = np.array([[2.0, 1.0, 2.0, 1.0, 3.0]])
    x = mx.sym.Variable("x")
    syms = [mx.sym.argsort(x), mx.sym.argsort(x, is_ascend=False),
            mx.sym.topk(x, k=3, ret_typ="indices")]
    want = [[[1, 3, 0, 2, 4]], [[4, 0, 2, 1, 3]], [[4, 0, 2]]]
    tu.check_symbolic_forward(mx.sym.Group(syms), {"x": v}, [np.array(w, float) for w in want],
                              rtol=0, atol=0, dtype=np.float64)


@pytest.mark.parametrize("sym_fn", [
    lambda x: mx.sym.topk(x, axis=1, k=2, ret_typ="value"),
    lambda x: mx.sym.sort(x, axis=0, is_ascend=False),
    lambda x: mx.sym.topk(x, axis=None, k=3, ret_typ="value", is_ascend=True),
])
def test_sorting_gradients_against_central_differences(sym_fn):
    v = _distinct((3, 4), 3)
    tu.check_numeric_gradient(sym_fn(mx.sym.Variable("x")), {"x": v}, numeric_eps=1e-4,
                              rtol=1e-6, atol=1e-8)


def test_topk_both_and_indices_gradients():
    """'both' sends the values' gradient back to the kept positions; indices and masks give a
    zero gradient, as MXNet's."""
    x = mx.sym.Variable("x")
    v = _distinct((2, 5), 4)
    head = np.random.RandomState(5).normal(size=(2, 2))
    order = np.argsort(-v, axis=1)[:, :2]
    want = np.zeros_like(v)
    np.put_along_axis(want, order, head, axis=1)
    tu.check_symbolic_backward(mx.sym.topk(x, k=2, ret_typ="both"), {"x": v},
                               [head, np.ones((2, 2))], {"x": want}, dtype=np.float64)
    tu.check_symbolic_backward(mx.sym.topk(x, k=2, ret_typ="mask") * 3.0, {"x": v},
                               [np.ones((2, 5))], {"x": np.zeros_like(v)}, dtype=np.float64)


def test_ordering_parameter_errors():
    x = mx.sym.Variable("x")
    with pytest.raises(MXNetError, match="k=6"):
        mx.sym.topk(x, k=6).infer_shape(x=(2, 5))
    with pytest.raises(MXNetError, match="ret_typ"):
        mx.sym.topk(x, ret_typ="values")
    with pytest.raises(MXNetError, match="axis"):
        mx.sym.argmax(x, axis=2).infer_shape(x=(2, 5))


# ---- reductions ------------------------------------------------------------------------------

def test_reductions_forward_against_numpy():
    x = mx.sym.Variable("x")
    v = np.random.RandomState(6).uniform(0.5, 1.5, size=(2, 3, 4))
    syms = [mx.sym.prod(x, axis=1), mx.sym.prod(x, axis=(0, 2), keepdims=True),
            mx.sym.nansum(x, axis=2, exclude=True), mx.sym.nanprod(x),
            mx.sym.norm(x), mx.sym.norm(x, ord=1, axis=1),
            mx.sym.norm(x, axis=(0, 2), keepdims=True)]
    want = [v.prod(1), v.prod((0, 2), keepdims=True), v.sum((0, 1)), np.array([v.prod()]),
            np.array([np.sqrt((v * v).sum())]), np.abs(v).sum(1),
            np.sqrt((v * v).sum((0, 2), keepdims=True))]
    tu.check_symbolic_forward(mx.sym.Group(syms), {"x": v}, want, rtol=1e-12, atol=1e-14,
                              dtype=np.float64)


def test_nan_reductions_skip_nans_and_give_them_no_gradient():
    x = mx.sym.Variable("x")
    v = np.random.RandomState(7).uniform(0.5, 1.5, size=(3, 4))
    v[1, 2] = v[0, 0] = np.nan
    syms = [mx.sym.nansum(x, axis=1), mx.sym.nanprod(x, axis=0)]
    clean = np.where(np.isnan(v), 0, v)
    ones = np.where(np.isnan(v), 1, v)
    tu.check_symbolic_forward(mx.sym.Group(syms), {"x": v}, [clean.sum(1), ones.prod(0)],
                              rtol=1e-12, atol=1e-14, dtype=np.float64)
    head = np.random.RandomState(8).normal(size=4)
    others = ones.prod(0, keepdims=True) / ones        # product of the other elements
    want = np.where(np.isnan(v), 0, head * others)
    tu.check_symbolic_backward(syms[1], {"x": v}, [head], {"x": want}, rtol=1e-10,
                               atol=1e-12, dtype=np.float64)


def test_prod_gradient_is_exact_at_zeros():
    """d prod / d x_i is the product of the others, also where an element is 0."""
    x = mx.sym.Variable("x")
    v = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]])
    want = np.array([[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    tu.check_symbolic_backward(mx.sym.prod(x, axis=1), {"x": v}, [np.ones(2)], {"x": want},
                               dtype=np.float64)


@pytest.mark.parametrize("sym_fn", [
    lambda x: mx.sym.prod(x, axis=(0, 2)),
    lambda x: mx.sym.nanprod(x, axis=1, keepdims=True),
    lambda x: mx.sym.nansum(x, axis=0),
    lambda x: mx.sym.norm(x, axis=(1, 2)),
    lambda x: mx.sym.norm(x, ord=1, axis=0),
])
def test_reduction_gradients_against_central_differences(sym_fn):
    v = np.random.RandomState(9).uniform(0.5, 1.5, size=(2, 3, 4))
    v *= np.where(np.random.RandomState(10).rand(2, 3, 4) < 0.5, -1, 1)   # both signs
    tu.check_numeric_gradient(sym_fn(mx.sym.Variable("x")), {"x": v}, numeric_eps=1e-5,
                              rtol=1e-6, atol=1e-8)


def test_norm_of_zeros_has_a_zero_gradient_not_nan():
    x = mx.sym.Variable("x")
    tu.check_symbolic_backward(mx.sym.norm(x, axis=1), {"x": np.zeros((2, 3))}, [np.ones(2)],
                               {"x": np.zeros((2, 3))}, dtype=np.float64)
    with pytest.raises(MXNetError, match="ord"):
        mx.sym.norm(x, ord=3)


# ---- softmin and softmax_cross_entropy -------------------------------------------------------

def test_softmin_forward_and_gradient():
    x = mx.sym.Variable("x")
    v = np.random.RandomState(11).normal(size=(2, 3, 4)) * 3
    e = np.exp(-(v - v.min(axis=1, keepdims=True)) / 2.0)
    sym = mx.sym.softmin(x, axis=1, temperature=2.0)
    tu.check_symbolic_forward(sym, {"x": v}, [e / e.sum(1, keepdims=True)], rtol=1e-12,
                              atol=1e-14, dtype=np.float64)
    tu.check_numeric_gradient(sym, {"x": v}, numeric_eps=1e-5, rtol=1e-6, atol=1e-8)
    tu.check_numeric_gradient(mx.sym.softmin(x), {"x": v}, numeric_eps=1e-5, rtol=1e-6,
                              atol=1e-8)


def _cross_entropy(v, labels):
    z = v - v.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels.astype(int)].sum()


def test_softmax_cross_entropy_forward_and_gradients():
    data, label = mx.sym.Variable("data"), mx.sym.Variable("label")
    v = np.random.RandomState(12).normal(size=(4, 5)) * 2
    lab = np.array([0.0, 3.0, 4.0, 3.0])
    sym = mx.sym.softmax_cross_entropy(data, label)
    tu.check_symbolic_forward(sym, {"data": v, "label": lab}, [[_cross_entropy(v, lab)]],
                              rtol=1e-12, atol=1e-12, dtype=np.float64)
    tu.check_numeric_gradient(sym, {"data": v, "label": lab}, grad_nodes=["data"],
                              numeric_eps=1e-5, rtol=1e-6, atol=1e-8)
    e = np.exp(v - v.max(1, keepdims=True))
    closed = e / e.sum(1, keepdims=True) - np.eye(5)[lab.astype(int)]
    tu.check_symbolic_backward(sym, {"data": v, "label": lab}, [[2.0]],
                               {"data": 2.0 * closed}, grad_req={"data": "write",
                                                                 "label": "null"},
                               rtol=1e-10, atol=1e-12, dtype=np.float64)


def test_softmax_cross_entropy_refuses_bad_labels():
    data, label = mx.sym.Variable("data"), mx.sym.Variable("label")
    sym = mx.sym.softmax_cross_entropy(data, label, name="sce")
    exe = sym.simple_bind(mx.cpu(), data=(2, 3), label=(2,))
    with pytest.raises(MXNetError, match="sce.*label 3"):
        exe.forward(data=np.zeros((2, 3)), label=np.array([0.0, 3.0]))
    with pytest.raises(MXNetError, match="label"):
        mx.nd.softmax_cross_entropy(mx.nd.zeros((2, 3)), mx.nd.array([0.5, 1.0]))
    with pytest.raises(MXNetError, match="label"):
        sym.infer_shape(data=(2, 3), label=(3,))


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    x, lab = mx.sym.Variable("x"), mx.sym.Variable("lab")
    syms = [mx.sym.argmax(x, axis=1, name="amax"), mx.sym.topk(x, k=2, ret_typ="both",
                                                                name="tk"),
            mx.sym.topk(x, k=2, ret_typ="mask", name="tkm"), mx.sym.sort(x, axis=0, name="srt"),
            mx.sym.argsort(x, name="asrt"), mx.sym.prod(x, axis=1, name="prd"),
            mx.sym.nanprod(x, name="nprd"), mx.sym.nansum(x, axis=0, name="nsum"),
            mx.sym._internal._square_sum(x, axis=1, name="ssum"),
            mx.sym.norm(x, axis=(1,), name="nrm"), mx.sym.norm(x, ord=1, name="nrm1"),
            mx.sym.softmin(x, name="smin"),
            mx.sym.softmax_cross_entropy(x, lab, name="sce")]
    plan = make_plan(mx.sym.Group(syms), {"x": (4, 5), "lab": (4,)}, ["x", "lab"], [],
                     grad_req={"x": "write", "lab": "null"})
    src, cdef = cuda.render(plan)
    for name in ("amax", "tk", "srt", "prd", "nprd", "nsum", "ssum", "nrm", "smin"):
        assert "%s_fwd_k" % name in src, name
    for name in ("tk", "srt", "prd", "ssum", "nrm", "smin"):
        assert "%s_bwd_k" % name in src, name
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
