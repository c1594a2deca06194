"""Element-wise operators defined by one formula row (compiler/ops/elementwise.py): sign,
rsqrt, softsign, hard_sigmoid, the trigonometric / hyperbolic / rounding / power / logarithm
and gamma / gammaln rows. Forward against NumPy, gradients against float64 central
differences (mx.test_utils.check_numeric_gradient), and the CUDA kernels built with nvcc."""
import math
import os
import re

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.compiler import build_cuda, cuda
from mxc.compiler.target import CudaTarget, Rendered
from mxc.compiler.ops import REGISTRY, elementwise
from mxc.compiler.plan import make_plan

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def _away_from(values, kinks, margin):
    """`values` moved at least `margin` away from each kink (finite differences need smoothness)."""
    out = values.copy()
    for k in kinks:
        near = np.abs(out - k) < margin
        out[near] = k + np.where(out[near] >= k, margin, -margin)
    return out


def _hard_sigmoid(v, alpha=0.2, beta=0.5):
    return np.clip(alpha * v + beta, 0, 1)


def _cases():
    """(symbol, NumPy forward) for each new row, with inputs where each is smooth."""
    x = mx.sym.Variable("x")
    return [
        (mx.sym.sign(x, name="sign"), elementwise.UNARY["sign"][2]),
        (mx.sym.rsqrt(mx.sym.abs(x) + 0.5, name="rsqrt"),
         lambda v: elementwise.UNARY["rsqrt"][2](np.abs(v) + 0.5)),
        (mx.sym.softsign(x, name="softsign"), elementwise.UNARY["softsign"][2]),
        (mx.sym.hard_sigmoid(x, name="hard_sigmoid"), _hard_sigmoid),
        (mx.sym.hard_sigmoid(x, alpha=0.5, beta=0.25, name="hard_sigmoid_ab"),
         lambda v: _hard_sigmoid(v, 0.5, 0.25)),
    ]


# kinks of the cases above: sign and abs at 0; hard_sigmoid where alpha * x + beta is 0 or 1
KINKS = (0.0, -2.5, 2.5, -0.5, 1.5)


def _location(shape=(4, 7), seed=0):
    xv = np.random.RandomState(seed).uniform(-4, 4, size=shape)
    return {"x": _away_from(xv, KINKS, 0.05)}


def test_forward_matches_numpy_in_float64_and_float32():
    loc = _location()
    syms, refs = zip(*_cases())
    group = mx.sym.Group(list(syms))
    want = [f(loc["x"]) for f in refs]
    tu.check_symbolic_forward(group, loc, want, rtol=1e-12, atol=1e-14, dtype=np.float64)
    tu.check_symbolic_forward(group, loc, want, rtol=1e-5, atol=1e-6, dtype=np.float32)


def test_values_at_the_kinks_follow_mxnet():
    x = np.array([[-1.0, 0.0, 1.0, -2.5, 2.5, -3.0, 3.0]])
    syms, refs = zip(*_cases())
    tu.check_symbolic_forward(mx.sym.Group(list(syms)), {"x": x}, [f(x) for f in refs],
                              rtol=1e-12, atol=1e-14, dtype=np.float64)


@pytest.mark.parametrize("case", range(len(_cases())))
def test_gradient_matches_central_differences(case):
    sym, _ = _cases()[case]
    tu.check_numeric_gradient(sym, _location(seed=case), numeric_eps=1e-5, rtol=1e-6,
                              atol=1e-8)


def test_gradient_formulas_against_numpy_derivatives():
    """The backward rows against closed-form derivatives (independent of finite differences)."""
    loc = _location(seed=5)
    v = loc["x"]
    head = np.random.RandomState(6).normal(size=v.shape)
    derivs = [np.zeros_like(v),
              -0.5 * np.sign(v) * (np.abs(v) + 0.5) ** -1.5,
              1 / (1 + np.abs(v)) ** 2,
              np.where((0.2 * v + 0.5 > 0) & (0.2 * v + 0.5 < 1), 0.2, 0.0),
              np.where((0.5 * v + 0.25 > 0) & (0.5 * v + 0.25 < 1), 0.5, 0.0)]
    for (sym, _), d in zip(_cases(), derivs):
        tu.check_symbolic_backward(sym, loc, [head], {"x": head * d}, rtol=1e-10, atol=1e-12,
                                   dtype=np.float64)


def test_every_row_is_a_registered_operator_with_both_kernels():
    rows = list(elementwise.UNARY) + list(elementwise.SCALAR) + ["clip", "hard_sigmoid"]
    rows += [names[0] for names in elementwise.ELEMWISE_NAMES.values()]
    rows += ["broadcast_" + kind for kind in elementwise.BINARY]
    for name in rows:
        op = REGISTRY[name]
        assert isinstance(op, elementwise.ElementwiseOp), name
        keys = ("forward", "backward") if op.template == "ops/unary.c.j2" else \
            ("forward", "lhs", "rhs")
        assert sorted(op.formulas) == sorted(keys), name
        assert cuda.cuda_template(op) in ("cuda/ops/unary.cu.j2", "cuda/ops/binary.cu.j2")


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    syms, _ = zip(*_cases())
    plan = make_plan(mx.sym.Group(list(syms)), {"x": (4, 7)}, ["x"], [], grad_req={"x": "write"})
    src, cdef = cuda.render(plan)
    for name in ("sign", "rsqrt", "softsign", "hard_sigmoid", "hard_sigmoid_ab"):
        assert "%s_fwd_k" % name in src and "%s_bwd_k" % name in src, name
    assert "(real)-0.5 * g * y * y * y" in src           # rsqrt's backward row
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


# ---- the trigonometric, hyperbolic, rounding, power and logarithm rows ----------------------

# name: (low, high, kinks to keep away from): inputs where the operator is smooth
_HALVES = tuple(k / 2 for k in range(-8, 9))
DOMAINS = {
    "sin": (-3, 3, ()), "cos": (-3, 3, ()), "tan": (-1.2, 1.2, ()),
    "arcsin": (-0.9, 0.9, ()), "arccos": (-0.9, 0.9, ()), "arctan": (-4, 4, ()),
    "degrees": (-4, 4, ()), "radians": (-4, 4, ()),
    "sinh": (-3, 3, ()), "cosh": (-3, 3, ()), "arcsinh": (-4, 4, ()),
    "arccosh": (1.1, 4, ()), "arctanh": (-0.9, 0.9, ()),
    "round": (-4, 4, _HALVES), "rint": (-4, 4, _HALVES), "ceil": (-4, 4, _HALVES),
    "floor": (-4, 4, _HALVES), "trunc": (-4, 4, _HALVES), "fix": (-4, 4, _HALVES),
    "cbrt": (-4, 4, (0.0,)), "rcbrt": (-4, 4, (0.0,)), "reciprocal": (-4, 4, (0.0,)),
    "log1p": (-0.5, 4, ()), "expm1": (-3, 3, ()), "log2": (0.2, 4, ()), "log10": (0.2, 4, ()),
    "erf": (-3, 3, ()), "gamma": (-2.9, 4, (0.0, -1.0, -2.0)),
    "gammaln": (-2.9, 4, (0.0, -1.0, -2.0)),
}

# closed-form derivatives, written from calculus (independent of the C rows)
DERIVATIVES = {
    "sin": np.cos, "cos": lambda v: -np.sin(v), "tan": lambda v: 1 / np.cos(v) ** 2,
    "arcsin": lambda v: 1 / np.sqrt(1 - v ** 2), "arccos": lambda v: -1 / np.sqrt(1 - v ** 2),
    "arctan": lambda v: 1 / (1 + v ** 2),
    "degrees": lambda v: np.full_like(v, 180 / np.pi),
    "radians": lambda v: np.full_like(v, np.pi / 180),
    "sinh": np.cosh, "cosh": np.sinh, "arcsinh": lambda v: 1 / np.sqrt(v ** 2 + 1),
    "arccosh": lambda v: 1 / np.sqrt(v ** 2 - 1), "arctanh": lambda v: 1 / (1 - v ** 2),
    "cbrt": lambda v: np.abs(v) ** (-2 / 3) / 3,
    "rcbrt": lambda v: -np.abs(v) ** (-4 / 3) / 3,
    "reciprocal": lambda v: -1 / v ** 2, "log1p": lambda v: 1 / (1 + v), "expm1": np.exp,
    "log2": lambda v: 1 / (v * np.log(2)), "log10": lambda v: 1 / (v * np.log(10)),
    "erf": lambda v: 2 / np.sqrt(np.pi) * np.exp(-v ** 2),
}
DERIVATIVES.update({k: np.zeros_like for k in ("round", "rint", "ceil", "floor", "trunc", "fix")})


def _row_inputs(names, shape=(3, 5), seed=11):
    rs = np.random.RandomState(seed)
    loc = {}
    for name in names:
        low, high, kinks = DOMAINS[name]
        loc["x_" + name] = _away_from(rs.uniform(low, high, size=shape), kinks, 0.05)
    return loc


def _row_group(names):
    return mx.sym.Group([getattr(mx.sym, name)(mx.sym.Variable("x_" + name), name=name)
                         for name in names])


def test_new_rows_forward_matches_numpy_in_float64_and_float32():
    names = sorted(DOMAINS)
    loc = _row_inputs(names)
    want = [elementwise.UNARY[n][2](loc["x_" + n]) for n in names]
    group = _row_group(names)
    tu.check_symbolic_forward(group, loc, want, rtol=1e-12, atol=1e-13, dtype=np.float64)
    tu.check_symbolic_forward(group, loc, want, rtol=1e-5, atol=1e-5, dtype=np.float32)


def test_new_rows_gradients_match_central_differences():
    names = sorted(DOMAINS)
    tu.check_numeric_gradient(_row_group(names), _row_inputs(names, seed=12), numeric_eps=1e-5,
                              rtol=1e-5, atol=1e-7)


def test_new_rows_gradients_against_closed_form_derivatives():
    names = sorted(DERIVATIVES)
    loc = _row_inputs(names, seed=13)
    heads = [np.random.RandomState(14 + i).normal(size=(3, 5)) for i in range(len(names))]
    want = {"x_" + n: h * DERIVATIVES[n](loc["x_" + n]) for n, h in zip(names, heads)}
    tu.check_symbolic_backward(_row_group(names), loc, heads, want, rtol=1e-10, atol=1e-12,
                               dtype=np.float64)


def test_gamma_gradients_are_digamma_over_a_wide_range():
    """gammaln' = digamma and gamma' = gamma * digamma, against SciPy's digamma, from near the
    origin to large arguments and between the poles."""
    special = pytest.importorskip("scipy.special")
    v = np.array([[0.01, 0.3, 1.0, 2.5, 5.99, 6.0, 7.3, 30.0, 170.0],
                  [-0.01, -0.5, -0.99, -1.3, -1.5, -2.7, -3.2, -7.5, -20.5]])
    head = np.random.RandomState(31).normal(size=v.shape)
    x = mx.sym.Variable("x")
    tu.check_symbolic_backward(mx.sym.gammaln(x), {"x": v}, [head],
                               {"x": head * special.digamma(v)}, rtol=1e-10, atol=1e-12,
                               dtype=np.float64)
    small = v[:, :-1]        # gamma(170) is near the float64 limit: keep gamma' finite
    tu.check_symbolic_backward(mx.sym.gamma(x), {"x": small}, [head[:, :-1]],
                               {"x": head[:, :-1] * special.gamma(small) *
                                special.digamma(small)},
                               rtol=1e-9, atol=1e-12, dtype=np.float64)


def test_gamma_at_poles_and_overflow_matches_c():
    x = np.array([[0.0, -1.0, -2.0, 200.0, 0.5]])
    v = mx.sym.Variable("x")
    sym = mx.sym.Group([mx.sym.gamma(v, name="g"), mx.sym.gammaln(v, name="gl")])
    want = [np.array([[np.inf, np.nan, np.nan, np.inf, np.sqrt(np.pi)]]),
            np.array([[np.inf, np.inf, np.inf, math.lgamma(200.0), math.log(np.sqrt(np.pi))]])]
    tu.check_symbolic_forward(sym, {"x": x}, want, rtol=1e-12, atol=0, equal_nan=True,
                              dtype=np.float64)
    for f, w in zip((elementwise.UNARY["gamma"][2], elementwise.UNARY["gammaln"][2]), want):
        with np.errstate(over="ignore"):      # math.gamma's overflow flag, caught as C's inf
            np.testing.assert_allclose(f(x), w, rtol=1e-12)


def test_rounding_at_halves_follows_mxnet_documentation():
    """MXNet's examples: round takes n.5 away from zero, rint to even; fix and trunc toward
    zero; ceil and floor as their names."""
    x = np.array([[-2.5, -2.1, -1.9, -0.5, 0.5, 1.5, 1.9, 2.1, 2.5]])
    expected = {
        "round": [-3, -2, -2, -1, 1, 2, 2, 2, 3],
        "rint": [-2, -2, -2, -0, 0, 2, 2, 2, 2],
        "fix": [-2, -2, -1, -0, 0, 1, 1, 2, 2],
        "trunc": [-2, -2, -1, -0, 0, 1, 1, 2, 2],
        "ceil": [-2, -2, -1, -0, 1, 2, 2, 3, 3],
        "floor": [-3, -3, -2, -1, 0, 1, 1, 2, 2],
    }
    names = sorted(expected)
    loc = {"x_" + n: x for n in names}
    tu.check_symbolic_forward(_row_group(names), loc,
                              [np.array([expected[n]], dtype=float) for n in names],
                              rtol=0, atol=0, dtype=np.float64)


def test_trig_names_and_aliases_follow_mxnet():
    for name in DOMAINS:
        assert name in mx.sym.__dir__() and REGISTRY[name].hint == name


@needs_nvcc
def test_new_rows_cuda_kernels_compile_with_nvcc(tmp_path):
    names = sorted(DOMAINS)
    shapes = {"x_" + n: (3, 5) for n in names}
    plan = make_plan(_row_group(names), shapes, list(shapes), [],
                     grad_req={k: "write" for k in shapes})
    src, cdef = cuda.render(plan)
    # a row whose code equals an earlier row's (trunc and fix) launches that row's kernels
    shared = {label for text in re.findall(r"/\* launched for: (.*?) \*/", src)
              for label in text.split(", ")}
    for name in names:
        assert ("%s_fwd_k" % name in src and "%s_bwd_k" % name in src) or name in shared, name
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


# ---- maximum / minimum / power / hypot: equal-shape, broadcast, scalar, mx.sym dispatch ------

def _binary_inputs(seed=21):
    """a, b of one shape, c broadcast against a; a > 0 for the powers; no ties a == b."""
    rs = np.random.RandomState(seed)
    a = rs.uniform(0.5, 2.0, size=(3, 4))
    b = rs.uniform(-1.5, 1.5, size=(3, 4))
    b = np.where(np.abs(a - b) < 0.05, b - 0.1, b)
    c = rs.uniform(-1.5, 1.5, size=(1, 4))
    c = np.where(np.abs(c - 1.25) < 0.05, c + 0.1, c)    # away from the scalar below
    return {"a": a, "b": b, "c": c}


def _binary_cases():
    """(symbol, NumPy forward in the inputs dict) for each binary and scalar form."""
    a, b, c = (mx.sym.Variable(k) for k in "abc")
    return [
        (mx.sym._maximum(a, b), lambda d: np.maximum(d["a"], d["b"])),
        (mx.sym._minimum(a, b), lambda d: np.minimum(d["a"], d["b"])),
        (mx.sym._power(a, b), lambda d: np.power(d["a"], d["b"])),
        (mx.sym._hypot(a, b), lambda d: np.hypot(d["a"], d["b"])),
        (mx.sym.broadcast_maximum(a, c), lambda d: np.maximum(d["a"], d["c"])),
        (mx.sym.broadcast_minimum(c, a), lambda d: np.minimum(d["c"], d["a"])),
        (mx.sym.broadcast_power(a, c), lambda d: np.power(d["a"], d["c"])),
        (mx.sym.broadcast_hypot(c, b), lambda d: np.hypot(d["c"], d["b"])),
        (mx.sym.maximum(c, 1.25), lambda d: np.maximum(d["c"], 1.25)),
        (mx.sym.minimum(1.25, c), lambda d: np.minimum(d["c"], 1.25)),
        (mx.sym.hypot(b, -2), lambda d: np.hypot(d["b"], 2.0)),
        (mx.sym.hypot(1.5, c), lambda d: np.hypot(1.5, d["c"])),
        (mx.sym.pow(a, 2.5), lambda d: d["a"] ** 2.5),
        (mx.sym.power(3, b), lambda d: 3.0 ** d["b"]),
    ]


def test_binary_and_scalar_forms_forward_match_numpy_in_float64_and_float32():
    loc = _binary_inputs()
    syms, refs = zip(*_binary_cases())
    want = [f(loc) for f in refs]
    group = mx.sym.Group(list(syms))
    tu.check_symbolic_forward(group, loc, want, rtol=1e-12, atol=1e-13, dtype=np.float64)
    tu.check_symbolic_forward(group, loc, want, rtol=1e-5, atol=1e-6, dtype=np.float32)


def test_binary_and_scalar_forms_gradients_match_central_differences():
    syms, _ = zip(*_binary_cases())
    tu.check_numeric_gradient(mx.sym.Group(list(syms)), _binary_inputs(seed=22),
                              numeric_eps=1e-5, rtol=1e-5, atol=1e-7)


def test_hypot_gradients_against_closed_form():
    loc = _binary_inputs(seed=23)
    a, b, c = loc["a"], loc["b"], loc["c"]
    head = np.random.RandomState(24).normal(size=a.shape)
    h = np.hypot(a, b)
    tu.check_symbolic_backward(mx.sym._hypot(mx.sym.Variable("a"), mx.sym.Variable("b")),
                               {"a": a, "b": b}, [head], {"a": head * a / h, "b": head * b / h},
                               rtol=1e-10, atol=1e-12, dtype=np.float64)
    hc = np.hypot(a, c)
    tu.check_symbolic_backward(mx.sym.broadcast_hypot(mx.sym.Variable("a"),
                                                      mx.sym.Variable("c")),
                               {"a": a, "c": c}, [head],
                               {"a": head * a / hc,
                                "c": (head * c / hc).sum(axis=0, keepdims=True)},
                               rtol=1e-10, atol=1e-12, dtype=np.float64)
    hs = np.hypot(a, 0.75)
    tu.check_symbolic_backward(mx.sym.hypot(mx.sym.Variable("a"), 0.75), {"a": a}, [head],
                               {"a": head * a / hs}, rtol=1e-10, atol=1e-12, dtype=np.float64)


def test_ties_send_the_gradient_as_mxnet():
    """At a == b MXNet's maximum gives the gradient to the lhs (a >= b), its minimum too
    (a <= b); the scalar forms give it to the input where x == scalar."""
    x = np.array([[1.0, 2.0, 3.0]])
    y = np.array([[1.0, 1.0, 4.0]])
    head = np.array([[0.5, -2.0, 3.0]])
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    tu.check_symbolic_backward(mx.sym.maximum(a, b), {"a": x, "b": y}, [head],
                               {"a": head * [[1, 1, 0]], "b": head * [[0, 0, 1]]},
                               dtype=np.float64)
    tu.check_symbolic_backward(mx.sym.minimum(a, b), {"a": x, "b": y}, [head],
                               {"a": head * [[1, 0, 1]], "b": head * [[0, 1, 0]]},
                               dtype=np.float64)
    tu.check_symbolic_backward(mx.sym.maximum(a, 2), {"a": x}, [head],
                               {"a": head * [[0, 1, 1]]}, dtype=np.float64)
    tu.check_symbolic_backward(mx.sym.minimum(2, a), {"a": x}, [head],
                               {"a": head * [[1, 1, 0]]}, dtype=np.float64)


def test_symbol_dispatch_follows_mxnet_symbol_functions():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    forms = [(mx.sym.maximum(x, y), "_maximum", None),
             (mx.sym.maximum(x, 2), "_maximum_scalar", "2"),
             (mx.sym.maximum(0.5, x), "_maximum_scalar", "0.5"),
             (mx.sym.minimum(x, y), "_minimum", None),
             (mx.sym.minimum(3, x), "_minimum_scalar", "3"),
             (mx.sym.hypot(x, y), "_hypot", None), (mx.sym.hypot(4, x), "_hypot_scalar", "4"),
             (mx.sym.pow(x, y), "_power", None), (mx.sym.pow(x, 2), "_power_scalar", "2"),
             (mx.sym.power(2, x), "_rpower_scalar", "2"),
             (mx.sym.maximum(x, np.float32(0.25)), "_maximum_scalar", "0.25")]
    for sym, op, scalar in forms:
        node = sym._heads[0][0]
        assert node.op.name == op
        assert node.attrs.get("scalar") == scalar
        assert [c.name for c, _ in node.inputs] == (["x", "y"] if scalar is None else ["x"])
    assert mx.sym.maximum(2, 3) == 3 and mx.sym.minimum(2, 3) == 2
    assert mx.sym.pow(2, 3) == 8 and mx.sym.hypot(3, 4) == 5
    with pytest.raises(TypeError):
        mx.sym.maximum(x, "2")
    for name, alias in (("_maximum_scalar", "_MaximumScalar"), ("_hypot", "_Hypot"),
                        ("_minimum_scalar", "_MinimumScalar"), ("_hypot_scalar", "_HypotScalar")):
        assert alias in REGISTRY[name].aliases and getattr(mx.sym, alias)(x).name.startswith(
            alias.lower())


@needs_nvcc
def test_binary_cuda_kernels_compile_with_nvcc(tmp_path):
    syms, _ = zip(*_binary_cases())
    shapes = {"a": (3, 4), "b": (3, 4), "c": (1, 4)}
    plan = make_plan(mx.sym.Group(list(syms)), shapes, list(shapes), [],
                     grad_req={k: "write" for k in shapes})
    src, cdef = cuda.render(plan)
    assert "hypot(a, b)" in src and "hypot(x, scalar)" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


# ---- modulo (mx.sym.% / _mod / broadcast_mod / _mod_scalar / _rmod_scalar) ----------------

def _py_mod(a, b):
    """Python's float %: the remainder takes the divisor's sign; MXNet gives 0 for b == 0."""
    return np.vectorize(lambda u, v: 0.0 if v == 0 else math.fmod(u, v) + (
        v if math.fmod(u, v) != 0 and (math.fmod(u, v) < 0) != (v < 0) else 0.0))(a, b)


def test_mod_forms_forward_and_gradients():
    a, b, c = (mx.sym.Variable(n) for n in "abc")
    rng = np.random.default_rng(5)
    vals = {"a": rng.uniform(-6, 6, (3, 4)), "b": rng.choice([-2.5, -1.5, 1.25, 3.0], (3, 4)),
            "c": np.array([[2.0, -3.0, 0.0, 1.5]])}
    cases = [(a % b, _py_mod(vals["a"], vals["b"])),
             (mx.sym.broadcast_mod(a, c), _py_mod(vals["a"], vals["c"])),
             (a % 1.75, _py_mod(vals["a"], 1.75)),
             (7.5 % b, _py_mod(7.5, vals["b"]))]
    for sym, want in cases:
        given = {k: v for k, v in vals.items() if k in sym.list_arguments()}
        tu.check_symbolic_forward(sym, given, [want], rtol=1e-12, atol=1e-12, dtype=np.float64)
    head = rng.uniform(-1, 1, (3, 4))
    ratio = np.floor(vals["a"] / vals["b"])
    tu.check_symbolic_backward(a % b, {"a": vals["a"], "b": vals["b"]}, [head],
                               {"a": head, "b": -ratio * head},
                               rtol=1e-12, atol=1e-12, dtype=np.float64)
    tu.check_symbolic_backward(7.5 % b, {"b": vals["b"]}, [head], {"b": -np.floor(7.5 / vals["b"]) * head},
                               rtol=1e-12, atol=1e-12, dtype=np.float64)
    # central differences away from the jumps (a / b not near an integer)
    x = np.array([[0.3, 1.2, -2.3], [4.4, -0.8, 2.6]])
    y = np.array([[1.0, -1.0, 1.0], [2.0, 1.5, -2.0]])
    tu.check_numeric_gradient(mx.sym._mod(a, b), {"a": x, "b": y}, numeric_eps=1e-6,
                              rtol=1e-5, atol=1e-7, dtype=np.float64)
    np.testing.assert_allclose(mx.nd.broadcast_mod(mx.nd.array(vals["a"]),
                                                   mx.nd.array(vals["c"])).asnumpy(),
                               _py_mod(vals["a"], vals["c"]), rtol=1e-6, atol=1e-6)
