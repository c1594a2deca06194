"""Comparison and logic rows (equal-shape, broadcast and scalar forms, logical_not), the
Symbol operators that map to them, and smooth_l1: forward against NumPy, zero gradients as
MXNet's, smooth_l1's gradient against central differences, the CUDA kernels built with nvcc."""
import json
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.compiler import build_cuda, cuda
from mxc.compiler.ops import FUNCTIONS
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

# relation: NumPy's, written independently of the registry's rows
RELATIONS = {
    "equal": lambda a, b: a == b, "not_equal": lambda a, b: a != b,
    "greater": lambda a, b: a > b, "greater_equal": lambda a, b: a >= b,
    "lesser": lambda a, b: a < b, "lesser_equal": lambda a, b: a <= b,
    "logical_and": lambda a, b: (a != 0) & (b != 0),
    "logical_or": lambda a, b: (a != 0) | (b != 0),
    "logical_xor": lambda a, b: (a != 0) ^ (b != 0),
}


def _ints(shape, seed):
    """Small integers as floats: many ties and zeros, so every branch of a relation is hit."""
    return np.random.RandomState(seed).randint(-2, 3, size=shape).astype(np.float64)


def _group(kind_to_sym):
    syms, refs = zip(*kind_to_sym)
    return mx.sym.Group(list(syms)), refs


def test_equal_shape_broadcast_and_scalar_forms_match_numpy():
    x, y, b = mx.sym.Variable("x"), mx.sym.Variable("y"), mx.sym.Variable("b")
    xv, yv, bv = _ints((3, 4), 0), _ints((3, 4), 1), _ints((1, 4), 2)
    cases = []
    for kind, rel in RELATIONS.items():
        cases.append((getattr(mx.sym, "_" + kind)(x, y), rel(xv, yv)))
        cases.append((getattr(mx.sym, "broadcast_" + kind)(x, b),
                      rel(xv, bv)))
        for s in (0.0, 1.0, -1.5):
            cases.append((getattr(mx.sym, "_%s_scalar" % kind)(x, scalar=s), rel(xv, s)))
    cases.append((mx.sym.logical_not(x), np.logical_not(xv)))
    group, want = _group(cases)
    loc = {"x": xv, "y": yv, "b": bv}
    want = [w.astype(np.float64) for w in want]
    tu.check_symbolic_forward(group, loc, want, rtol=0, atol=0, dtype=np.float64)
    tu.check_symbolic_forward(group, loc, want, rtol=0, atol=0, dtype=np.float32)


def test_gradients_are_zero_as_mxnet():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    xv, yv = _ints((2, 3), 3), _ints((2, 3), 4)
    head = np.random.RandomState(5).normal(size=(2, 3))
    zero = np.zeros((2, 3))
    for kind in RELATIONS:
        for form in ("_", "broadcast_"):
            tu.check_symbolic_backward(getattr(mx.sym, form + kind)(x, y), {"x": xv, "y": yv},
                                       [head], {"x": zero, "y": zero}, dtype=np.float64)
    tu.check_symbolic_backward(mx.sym.logical_not(x) + mx.sym._greater_scalar(x, scalar=0.5),
                               {"x": xv}, [head], {"x": zero}, dtype=np.float64)


def test_broadcast_gradient_shapes_are_the_operands():
    x, b = mx.sym.Variable("x"), mx.sym.Variable("b")
    sym = mx.sym.broadcast_greater(x, b)
    exe = sym.simple_bind(mx.cpu(), x=(3, 4), b=(3, 1))
    exe.forward(is_train=True, x=_ints((3, 4), 6), b=_ints((3, 1), 7))
    exe.backward(mx.nd.ones((3, 4)))
    assert exe.grad_dict["b"].shape == (3, 1)
    assert np.all(exe.grad_dict["b"].asnumpy() == 0)


def _ops_of(sym):
    return [n["op"] for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null"]


def test_symbol_operators_map_to_the_comparison_operators():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    assert _ops_of(x == y) == ["_equal"]
    assert _ops_of(x != y) == ["_not_equal"]
    assert _ops_of(x > y) == ["_greater"]
    assert _ops_of(x >= y) == ["_greater_equal"]
    assert _ops_of(x < y) == ["_lesser"]
    assert _ops_of(x <= y) == ["_lesser_equal"]
    assert _ops_of(x == 2) == ["_equal_scalar"]
    # a number on the left: Python reflects the comparison, as in MXNet
    assert _ops_of(1 > x) == ["_lesser_scalar"]
    assert _ops_of(1 <= x) == ["_greater_equal_scalar"]
    with mx.name.NameManager():
        assert (x == y).name == "_equal0" and (x > 3).name == "_greater_scalar0"
    assert (x < 1.5).list_arguments() == ["x"]
    # Symbols stay usable as dict keys and in sets (hashed by identity)
    assert len({x: 1, y: 2}) == 2 and x in {x}


def test_symbol_operators_compute_the_relation():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    xv, yv = _ints((4, 5), 8), _ints((4, 5), 9)
    group = mx.sym.Group([x == y, x != y, x > y, x >= y, x < y, x <= y, 1 > x, x == 0])
    want = [xv == yv, xv != yv, xv > yv, xv >= yv, xv < yv, xv <= yv, 1 > xv, xv == 0]
    tu.check_symbolic_forward(group, {"x": xv, "y": yv}, [w.astype(float) for w in want],
                              rtol=0, atol=0, dtype=np.float64)


def test_imperative_forms():
    a = mx.nd.array([[-1.0, 0.0, 2.0]])
    b = mx.nd.array([[1.0, 0.0, 2.0]])
    assert mx.nd._equal(a, b).asnumpy().tolist() == [[0, 1, 1]]
    assert mx.nd.broadcast_logical_or(a, mx.nd.array([[0.0]])).asnumpy().tolist() == [[1, 0, 1]]
    assert mx.nd._lesser_scalar(a, scalar=0).asnumpy().tolist() == [[1, 0, 0]]
    assert mx.nd.logical_not(a).asnumpy().tolist() == [[0, 1, 0]]
    assert mx.nd.logical_not(a).dtype == np.float32


def test_aliases_are_mxnet_legacy_names():
    for alias, name in (("_Equal", "_equal"), ("_Not_Equal", "_not_equal"),
                        ("_Logical_Xor", "_logical_xor"), ("_GreaterEqualScalar",
                                                           "_greater_equal_scalar"),
                        ("_LogicalAndScalar", "_logical_and_scalar"),
                        ("_NotEqualScalar", "_not_equal_scalar")):
        assert FUNCTIONS[alias].name == name


def _smooth_l1(v, sigma):
    """Written from the definition: quadratic inside |v| < 1 / sigma^2, linear outside."""
    s2 = sigma * sigma
    return np.array([0.5 * s2 * t * t if abs(t) < 1 / s2 else abs(t) - 0.5 / s2
                     for t in v.ravel()]).reshape(v.shape)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_smooth_l1_forward_and_gradient(sigma):
    x = mx.sym.Variable("x")
    sym = mx.sym.smooth_l1(x, scalar=sigma)
    v = np.random.RandomState(10).uniform(-2, 2, size=(3, 5))
    kink = 1 / sigma ** 2
    v[np.abs(np.abs(v) - kink) < 0.05] += 0.1                # away from the kinks
    v[np.abs(v) < 0.05] = 0.3
    tu.check_symbolic_forward(sym, {"x": v}, [_smooth_l1(v, sigma)], rtol=1e-12, atol=1e-14,
                              dtype=np.float64)
    tu.check_numeric_gradient(sym, {"x": v}, numeric_eps=1e-5, rtol=1e-6, atol=1e-8)
    # MXNet's documented example (sigma = 1)
    if sigma == 1.0:
        got = mx.nd.smooth_l1(mx.nd.array([1, 2, 3, 4]), scalar=1).asnumpy()
        assert np.allclose(got, [0.5, 1.5, 2.5, 3.5])


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    syms = [mx.sym.broadcast_logical_xor(x, y, name="bxor"), mx.sym._equal(x, x, name="eq"),
            mx.sym._lesser_equal_scalar(x, scalar=0.5, name="les"),
            mx.sym.logical_not(x, name="lnot"), mx.sym.smooth_l1(x, scalar=2.0, name="sl1")]
    plan = make_plan(mx.sym.Group(syms), {"x": (4, 3), "y": (1, 3)}, ["x", "y"], [],
                     grad_req={"x": "write", "y": "write"})
    src, cdef = cuda.render(plan)
    for name in ("bxor", "eq", "les", "lnot", "sl1"):
        assert "%s_fwd_k" % name in src, name
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
