"""Element-wise operators: each is one row of a formula table (reference sections 11.4, 11.5).

A row is the operator's C expressions, which the C and CUDA templates (ops/unary.c.j2,
ops/binary.c.j2, cuda/ops/unary.cu.j2, cuda/ops/binary.cu.j2) paste into their loops; adding
an element-wise operator is adding its row here.

Unary rows: (forward, backward) in x (input), y (output), g (head gradient); the floating
parameters of the operator are constants of the same name (clip's a_min / a_max, the scalar
operators' `scalar`). Binary rows: (forward, d/dlhs, d/drhs) in a (lhs), b (rhs), y, g.
Each row ends with its NumPy forward: the operator's reference (mx.nd.<op>, the op tests).
"""
import math

import numpy as np

from .base import (OpDef, Param, ndim_known, out_list, p_bool, p_float, p_float_or_inf,
                   register, unify)
from .tensor import broadcast_shape


class ElementwiseOp(OpDef):
    """An OpDef whose kernel is a formula row: `formulas` maps forward / backward (unary) or
    forward / lhs / rhs (binary) to C expressions."""

    def __init__(self, name, formulas, **kw):
        super().__init__(name, **kw)
        self.formulas = dict(formulas)


UNARY = {
    "exp": ("exp(x)", "g * y", np.exp),
    "log": ("log(x)", "g / x", np.log),
    "sqrt": ("sqrt(x)", "g / (2 * y)", np.sqrt),
    "rsqrt": ("1 / sqrt(x)", "(real)-0.5 * g * y * y * y", lambda x: 1 / np.sqrt(x)),
    "square": ("x * x", "2 * x * g", np.square),
    "abs": ("fabs(x)", "x > 0 ? g : (x < 0 ? -g : 0)", np.abs),
    "sign": ("x > 0 ? 1 : (x < 0 ? -1 : 0)", "0", np.sign),
    "negative": ("-x", "-g", np.negative),
    "tanh": ("tanh(x)", "g * (1 - y * y)", np.tanh),
    "sigmoid": ("1 / (1 + exp(-x))", "g * y * (1 - y)", lambda x: 1 / (1 + np.exp(-x))),
    "softsign": ("x / (1 + fabs(x))", "g / ((1 + fabs(x)) * (1 + fabs(x)))",
                 lambda x: x / (1 + np.abs(x))),
    "relu": ("x > 0 ? x : 0", "x > 0 ? g : 0", lambda x: np.maximum(x, 0)),
    "zeros_like": ("0", "0", np.zeros_like),
    "ones_like": ("1", "0", np.ones_like),
}


# degrees per radian and its inverse, 2 / sqrt(pi), ln 2, ln 10 (C has no portable M_PI)
_DEG, _RAD, _ERF_SCALE = "(real)57.29577951308232", "(real)0.017453292519943295", \
    "(real)1.1283791670955126"
_LN2, _LN10 = "(real)0.6931471805599453", "(real)2.302585092994046"

# the trigonometric and hyperbolic family (MXNet's elemwise_unary_op_trig.cc)
TRIGONOMETRIC = {
    "sin": ("sin(x)", "g * cos(x)", np.sin),
    "cos": ("cos(x)", "-g * sin(x)", np.cos),
    "tan": ("tan(x)", "g * (1 + y * y)", np.tan),
    "arcsin": ("asin(x)", "g / sqrt(1 - x * x)", np.arcsin),
    "arccos": ("acos(x)", "-g / sqrt(1 - x * x)", np.arccos),
    "arctan": ("atan(x)", "g / (1 + x * x)", np.arctan),
    "degrees": ("x * " + _DEG, "g * " + _DEG, np.degrees),
    "radians": ("x * " + _RAD, "g * " + _RAD, np.radians),
    "sinh": ("sinh(x)", "g * cosh(x)", np.sinh),
    "cosh": ("cosh(x)", "g * sinh(x)", np.cosh),
    "arcsinh": ("asinh(x)", "g / sqrt(x * x + 1)", np.arcsinh),
    "arccosh": ("acosh(x)", "g / sqrt(x * x - 1)", np.arccosh),
    "arctanh": ("atanh(x)", "g / (1 - x * x)", np.arctanh),
}


def _round_half_away(x):
    """C's round: halves away from zero (NumPy's round takes halves to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


# rounding: piecewise constant, so the gradient is zero, as MXNet's MakeZeroGradNodes
ROUNDING = {
    "round": ("round(x)", "0", _round_half_away),
    "rint": ("rint(x)", "0", np.rint),
    "ceil": ("ceil(x)", "0", np.ceil),
    "floor": ("floor(x)", "0", np.floor),
    "trunc": ("trunc(x)", "0", np.trunc),
    "fix": ("trunc(x)", "0", np.fix),
}

# powers, logarithms and special functions (elemwise_unary_op_pow.cc, _logexp.cc, _basic.cc)
POWERS_AND_LOGS = {
    "cbrt": ("cbrt(x)", "g / (3 * y * y)", np.cbrt),
    "rcbrt": ("1 / cbrt(x)", "-g / (3 * cbrt(x) * x)", lambda x: 1 / np.cbrt(x)),
    "reciprocal": ("1 / x", "-g / (x * x)", np.reciprocal),
    "log1p": ("log1p(x)", "g / (1 + x)", np.log1p),
    "expm1": ("expm1(x)", "g * exp(x)", np.expm1),
    "log2": ("log2(x)", "g / (x * " + _LN2 + ")", np.log2),
    "log10": ("log10(x)", "g / (x * " + _LN10 + ")", np.log10),
    "erf": ("erf(x)", "g * " + _ERF_SCALE + " * exp(-x * x)",
            np.vectorize(math.erf, otypes=[float])),
}


def _digamma_positive(v):
    """C expression of digamma(v) for v > 0: the recurrence psi(v) = psi(v + 6) - sum 1/(v + k)
    lifts the argument to >= 6, where the asymptotic series to 1/z^10 is exact to ~1e-11."""
    z, w = "(%s + 6)" % v, "(1 / ((%s + 6) * (%s + 6)))" % (v, v)
    series = ("(log(%s) - 0.5 / %s - %s * ((real)1 / 12 - %s * ((real)1 / 120"
              " - %s * ((real)1 / 252 - %s * ((real)1 / 240 - %s / 132)))))"
              % (z, z, w, w, w, w, w))
    shifts = " - ".join("1 / (%s + %d)" % (v, k) for k in range(6))
    return "(%s - %s)" % (series, shifts)


# digamma(x): x <= 0 by the reflection psi(x) = psi(1 - x) - pi / tan(pi x)
_PI = "(real)3.141592653589793"
DIGAMMA = "(x > 0 ? %s : %s - %s / tan(%s * x))" % (_digamma_positive("x"),
                                                    _digamma_positive("(1 - x)"), _PI, _PI)



def _c_gamma(v):
    """math.gamma with C's tgamma results where Python raises: overflow and poles."""
    try:
        return math.gamma(v)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.copysign(math.inf, v) if v == 0 else math.nan


def _c_lgamma(v):
    """math.lgamma with C's lgamma result (+inf) at the poles and on overflow."""
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):
        return math.inf


# Gamma and its logarithm (log |Gamma| for negative x, as C's lgamma); both gradients use digamma
GAMMA = {
    "gamma": ("tgamma(x)", "g * y * " + DIGAMMA, np.vectorize(_c_gamma, otypes=[float])),
    "gammaln": ("lgamma(x)", "g * " + DIGAMMA, np.vectorize(_c_lgamma, otypes=[float])),
}

for _rows in (TRIGONOMETRIC, ROUNDING, POWERS_AND_LOGS, GAMMA):
    for _name in _rows:
        assert _name not in UNARY, _name
    UNARY.update(_rows)

# name: (forward, backward, MXNet's naming hint, legacy aliases, NumPy forward in x, scalar)
SCALAR = {
    "_plus_scalar": ("x + scalar", "g", "_plusscalar", ("_PlusScalar",), lambda x, s: x + s),
    "_minus_scalar": ("x - scalar", "g", "_minusscalar", ("_MinusScalar",),
                      lambda x, s: x - s),
    "_rminus_scalar": ("scalar - x", "-g", "_rminusscalar", ("_RMinusScalar",),
                       lambda x, s: s - x),
    "_mul_scalar": ("x * scalar", "g * scalar", "_mulscalar", ("_MulScalar",),
                    lambda x, s: x * s),
    "_div_scalar": ("x / scalar", "g / scalar", "_divscalar", ("_DivScalar",),
                    lambda x, s: x / s),
    "_rdiv_scalar": ("scalar / x", "-g * scalar / (x * x)", "_rdivscalar", ("_RDivScalar",),
                     lambda x, s: s / x),
    "_power_scalar": ("pow(x, scalar)", "g * scalar * pow(x, scalar - 1)", "_powerscalar",
                      ("_PowerScalar",), lambda x, s: np.power(x, s)),
    "_rpower_scalar": ("pow(scalar, x)", "g * y * log(scalar)", "_rpower_scalar",
                       ("_RPowerScalar",), lambda x, s: np.power(s, x)),
}

# (forward, backward, NumPy forward in x and the parameters p)
CLIP = ("x < a_min ? a_min : (x > a_max ? a_max : x)", "(x < a_min || x > a_max) ? 0 : g",
        lambda x, p: np.minimum(np.maximum(x, p["a_min"]), p["a_max"]))
HARD_SIGMOID = ("alpha * x + beta <= 0 ? 0 : (alpha * x + beta >= 1 ? 1 : alpha * x + beta)",
                "(alpha * x + beta > 0 && alpha * x + beta < 1) ? g * alpha : 0",
                lambda x, p: np.clip(p["alpha"] * x + p["beta"], 0, 1))

# kind: (forward, d/dlhs, d/drhs, NumPy forward), registered as elemwise_<kind> and
# broadcast_<kind>
BINARY = {
    "add": ("a + b", "g", "g", np.add),
    "sub": ("a - b", "g", "-g", np.subtract),
    "mul": ("a * b", "g * b", "g * a", np.multiply),
    "div": ("a / b", "g / b", "-g * a / (b * b)", np.divide),
    "power": ("pow(a, b)", "g * b * pow(a, b - 1)", "g * y * log(a)", np.power),
    "maximum": ("a > b ? a : b", "a >= b ? g : 0", "a < b ? g : 0", np.maximum),
    "minimum": ("a < b ? a : b", "a <= b ? g : 0", "a > b ? g : 0", np.minimum),
}

# kind: (equal-shape operator name, its hint, its aliases)
ELEMWISE_NAMES = {
    "add": ("elemwise_add", "_plus", ("_add", "_plus", "_Plus")),
    "sub": ("elemwise_sub", "_minus", ("_sub", "_minus", "_Minus")),
    "mul": ("elemwise_mul", "_mul", ("_mul", "_Mul")),
    "div": ("elemwise_div", "_div", ("_div", "_Div")),
    "power": ("_power", "_power", ("_Power",)),
    "maximum": ("_maximum", "_maximum", ("_Maximum",)),
    "minimum": ("_minimum", "_minimum", ("_Minimum",)),
}
BROADCAST_ALIASES = {"add": ("broadcast_plus",), "sub": ("broadcast_minus",)}

# maximum / minimum / hypot against a scalar (elemwise_binary_scalar_op_extended.cc); the
# maximum's gradient goes where x >= scalar, the minimum's where x <= scalar, as MXNet's
SCALAR.update({
    "_maximum_scalar": ("x > scalar ? x : scalar", "x >= scalar ? g : 0", "_maximumscalar",
                        ("_MaximumScalar",), np.maximum),
    "_minimum_scalar": ("x < scalar ? x : scalar", "x <= scalar ? g : 0", "_minimumscalar",
                        ("_MinimumScalar",), np.minimum),
    "_hypot_scalar": ("hypot(x, scalar)", "g * x / y", "_hypotscalar", ("_HypotScalar",),
                      np.hypot),
})
BINARY["hypot"] = ("hypot(a, b)", "g * a / y", "g * b / y", np.hypot)
ELEMWISE_NAMES["hypot"] = ("_hypot", "_hypot", ("_Hypot",))


# modulo as MXNet's mshadow_op::mod: the remainder takes the divisor's sign (Python's %),
# 0 for a zero divisor; d/da = 1, d/db = -floor(a / b)
def _c_mod(a, b):
    r = "fmod(%s, %s)" % (a, b)
    return "(%s == 0 ? 0 : ((%s != 0 && ((%s < 0) != (%s < 0))) ? %s + %s : %s))" % (
        b, r, r, b, r, b, r)


def _np_mod(a, b):
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0, np.mod(a, np.where(b == 0, 1, b))).astype(
            np.result_type(a, b))


BINARY["mod"] = (_c_mod("a", "b"), "g", "b == 0 ? 0 : -floor(a / b) * g", _np_mod)
ELEMWISE_NAMES["mod"] = ("_mod", "_mod", ("_Mod",))
SCALAR.update({
    "_mod_scalar": (_c_mod("x", "scalar"), "g", "_modscalar", ("_ModScalar",), _np_mod),
    "_rmod_scalar": (_c_mod("scalar", "x"), "x == 0 ? 0 : -floor(scalar / x) * g",
                     "_rmodscalar", ("_RModScalar",), lambda x, s: _np_mod(s, x)),
})

# comparisons and logic (elemwise_binary_op_logic.cc, elemwise_binary_scalar_op_logic.cc,
# elemwise_binary_broadcast_op_logic.cc): 1 where the relation holds, else 0; piecewise constant, so a zero gradient as MXNet's
# MakeZeroGradNodes. kind: (C relation in a / b, NumPy relation, MXNet's legacy alias)
LOGIC = {
    "equal": ("{a} == {b}", np.equal, "_Equal"),
    "not_equal": ("{a} != {b}", np.not_equal, "_Not_Equal"),
    "greater": ("{a} > {b}", np.greater, "_Greater"),
    "greater_equal": ("{a} >= {b}", np.greater_equal, "_Greater_Equal"),
    "lesser": ("{a} < {b}", np.less, "_Lesser"),
    "lesser_equal": ("{a} <= {b}", np.less_equal, "_Lesser_Equal"),
    "logical_and": ("{a} != 0 && {b} != 0", np.logical_and, "_Logical_And"),
    "logical_or": ("{a} != 0 || {b} != 0", np.logical_or, "_Logical_Or"),
    "logical_xor": ("({a} != 0) != ({b} != 0)", np.logical_xor, "_Logical_Xor"),
}
for _kind, (_rel, _np, _alias) in LOGIC.items():
    BINARY[_kind] = ("(%s) ? 1 : 0" % _rel.format(a="a", b="b"), "0", "0", _np)
    ELEMWISE_NAMES[_kind] = ("_" + _kind, "_" + _kind, (_alias,))
    _scalar_alias = "_%sScalar" % "".join(w.capitalize() for w in _kind.split("_"))
    SCALAR["_%s_scalar" % _kind] = (
        "(%s) ? 1 : 0" % _rel.format(a="x", b="scalar"), "0",
        "_%s_scalar" % _kind, (_scalar_alias,), _np)
UNARY["logical_not"] = ("x != 0 ? 0 : 1", "0", np.logical_not)

# smooth_l1 (MXNet's `scalar` is sigma): 0.5 (sigma x)^2 inside |x| < 1 / sigma^2, else
# |x| - 0.5 / sigma^2; the derivative sigma^2 x inside, sign(x) outside
SMOOTH_L1 = ("fabs(x) < 1 / (scalar * scalar) ? (real)0.5 * scalar * scalar * x * x"
             " : fabs(x) - (real)0.5 / (scalar * scalar)",
             "fabs(x) < 1 / (scalar * scalar) ? g * scalar * scalar * x"
             " : (x > 0 ? g : (x < 0 ? -g : 0))",
             lambda x, s: np.where(np.abs(x) < 1 / (s * s), 0.5 * (s * x) ** 2,
                                   np.abs(x) - 0.5 / (s * s)))


def _same_shape(p, ins, outs=None):
    """Input and output are one shape, inferred either way."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0], [0])
    return ins, outs


def _elemwise_shape(p, ins, outs=None):
    """Both operands and the output are one shape, inferred from any of them."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0, 1], [0])
    return ins, outs


def _broadcast_shape(p, ins, outs=None):
    """NumPy broadcasting; a dimension unknown (0) in either operand is unknown in the output
    (MXNet's BinaryBroadcastShapeCompact infers forward only)."""
    if not (ndim_known(ins[0]) and ndim_known(ins[1])):
        return ins, [None]
    return ins, [broadcast_shape(ins[0], ins[1])]


def _same_dtype(fn):
    """A NumPy forward whose result keeps the input's dtype, as the C kernels do."""
    def reference(p, arrays, train=False):
        with np.errstate(all="ignore"):
            out = np.asarray(fn(p, *arrays))
        return [out.astype(arrays[0].dtype, copy=False)]
    return reference


def _unary(name, forward, backward, numpy_forward, **kw):
    register(ElementwiseOp(name, dict(forward=forward, backward=backward), shape=_same_shape,
                           template="ops/unary.c.j2", reference=_same_dtype(numpy_forward),
                           **kw))


def _binary(name, kind, shape, **kw):
    forward, lhs, rhs, numpy_forward = BINARY[kind]
    register(ElementwiseOp(name, dict(forward=forward, lhs=lhs, rhs=rhs), inputs=("lhs", "rhs"),
                           shape=shape, template="ops/binary.c.j2",
                           reference=_same_dtype(lambda p, a, b: numpy_forward(a, b)), **kw))


for _name, (_fwd, _bwd, _np) in UNARY.items():
    _unary(_name, _fwd, _bwd, lambda p, x, _f=_np: _f(x))

_unary("clip", CLIP[0], CLIP[1], lambda p, x: CLIP[2](x, p),
       params={"a_min": Param(p_float_or_inf), "a_max": Param(p_float_or_inf)})

_unary("hard_sigmoid", HARD_SIGMOID[0], HARD_SIGMOID[1], lambda p, x: HARD_SIGMOID[2](x, p),
       params={"alpha": Param(p_float, 0.2), "beta": Param(p_float, 0.5)})

_unary("smooth_l1", SMOOTH_L1[0], SMOOTH_L1[1], lambda p, x: SMOOTH_L1[2](x, p["scalar"]),
       params={"scalar": Param(p_float, 1.0), "is_int": Param(p_bool, True)})

for _name, (_fwd, _bwd, _hint, _aliases, _np) in SCALAR.items():
    _unary(_name, _fwd, _bwd, lambda p, x, _f=_np: _f(x, p["scalar"]), hint=_hint,
           aliases=_aliases,
           params={"scalar": Param(p_float, 1.0), "is_int": Param(p_bool, True)})

for _kind, (_name, _hint, _aliases) in ELEMWISE_NAMES.items():
    _binary(_name, _kind, _elemwise_shape, hint=_hint, aliases=_aliases)

for _kind in BINARY:
    _binary("broadcast_" + _kind, _kind, _broadcast_shape,
            aliases=BROADCAST_ALIASES.get(_kind, ()))
