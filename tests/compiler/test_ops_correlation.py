"""Correlation: forward against a NumPy loop written here (and the registry's reference),
gradients against float64 central differences, MXNet's parameter checks, the CUDA body."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda, ops
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

CASES = [dict(kernel_size=1, max_displacement=1, stride1=1, stride2=1, pad_size=1),
         dict(kernel_size=3, max_displacement=2, stride1=2, stride2=1, pad_size=2),
         dict(kernel_size=3, max_displacement=2, stride1=1, stride2=2, pad_size=2,
              is_multiply=False)]


def naive(a, b, kernel_size, max_displacement, stride1, stride2, pad_size, is_multiply=True):
    """Element by element, straight from the definition."""
    n, c, h, w = a.shape
    kr, md = (kernel_size - 1) // 2, max_displacement
    ph, pw = h + 2 * pad_size, w + 2 * pad_size
    th = -(-(ph - 2 * (md + kr)) // stride1)
    tw = -(-(pw - 2 * (md + kr)) // stride1)
    gr = md // stride2
    gw = 2 * gr + 1

    def val(x, bb, cc, y, xx):
        y, xx = y - pad_size, xx - pad_size
        return x[bb, cc, y, xx] if 0 <= y < h and 0 <= xx < w else 0.0
    out = np.zeros((n, gw * gw, th, tw))
    for bb in range(n):
        for t in range(gw * gw):
            dx, dy = (t % gw - gr) * stride2, (t // gw - gr) * stride2
            for i in range(th):
                for j in range(tw):
                    s = 0.0
                    for cc in range(c):
                        for hh in range(kernel_size):
                            for ww in range(kernel_size):
                                y1, x1 = i * stride1 + md + hh, j * stride1 + md + ww
                                v1, v2 = val(a, bb, cc, y1, x1), val(b, bb, cc, y1 + dy, x1 + dx)
                                s += v1 * v2 if is_multiply else abs(v1 - v2)
                    out[bb, t, i, j] = s / (kernel_size * kernel_size * c)
    return out


@pytest.mark.parametrize("params", CASES)
def test_forward_and_gradients(params):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (2, 2, 7, 6)), rng.uniform(-1, 1, (2, 2, 7, 6))
    sym = mx.sym.Correlation(mx.sym.Variable("a"), mx.sym.Variable("b"), **params)
    assert sym.list_outputs() == ["correlation%s_output" % sym.name[len("correlation"):]]
    want = naive(a, b, **params)
    tu.check_symbolic_forward(sym, {"a": a, "b": b}, [want], rtol=1e-12, atol=1e-12,
                              dtype=np.float64)
    op = ops.get("Correlation")
    np.testing.assert_allclose(op.reference(op.parse_params(params), [a, b])[0], want,
                               rtol=1e-12, atol=1e-12)
    if not params.get("is_multiply", True):       # |a - b| has kinks at a == b: keep away
        b = a + np.where(rng.uniform(size=a.shape) > 0.5, 0.5, -0.5)
    tu.check_numeric_gradient(sym, {"a": a, "b": b}, numeric_eps=1e-6, rtol=1e-5, atol=1e-8,
                              dtype=np.float64)


def test_mxnet_checks():
    x = mx.nd.array(np.random.rand(1, 1, 8, 8))
    with pytest.raises(MXNetError, match="odd"):
        mx.nd.Correlation(x, x, kernel_size=4)
    with pytest.raises(MXNetError, match="fit"):
        mx.nd.Correlation(x, x, kernel_size=9)
    assert mx.nd.Correlation(x, x, kernel_size=3, max_displacement=2).shape == (1, 25, 2, 2)
    with pytest.raises(MXNetError, match="one shape"):
        mx.sym.Correlation(mx.sym.Variable("a"), mx.sym.Variable("b")).infer_shape(
            a=(1, 1, 8, 8), b=(1, 2, 8, 8))


@needs_nvcc
def test_cuda_body_compiles_with_nvcc(tmp_path):
    sym = mx.sym.Correlation(mx.sym.Variable("a"), mx.sym.Variable("b"), kernel_size=3,
                             max_displacement=2, pad_size=2, name="corr")
    plan = make_plan(sym, {"a": (1, 2, 6, 6), "b": (1, 2, 6, 6)}, ["a", "b"], [],
                     grad_req={"a": "write", "b": "write"})
    src, cdef = cuda.render(plan)
    assert "corr_fwd_k" in src and "corr_bwd_k" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


def test_absolute_difference_subgradient_at_equal_values_is_mxnets():
    # |a - b| at a == b: MXNet gives data1 the gradient +1 and data2 -1 (per term / SUM)
    a = np.arange(12.0).reshape(1, 3, 2, 2)
    sym = mx.sym.Correlation(mx.sym.Variable("a"), mx.sym.Variable("b"), kernel_size=1,
                             max_displacement=0, is_multiply=False)
    head = np.full((1, 1, 2, 2), 3.0)
    tu.check_symbolic_backward(sym, {"a": a, "b": a.copy()}, [head],
                               {"a": np.full(a.shape, 1.0), "b": np.full(a.shape, -1.0)},
                               rtol=1e-12, atol=1e-12, dtype=np.float64)
