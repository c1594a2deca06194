"""Random sampling operators: _random_uniform, _random_normal, _random_exponential,
_random_randint (MXNet's random/sample_op.cc) as compiled kernels that draw from the arena's
generator, which `mx.random.seed` seeds through NumPy's global generator at bind; each forward
draws anew. Like the constants, a sample's `shape` may have unknown (0) dimensions that shape
inference fills from its consumers. The NumPy references (mx.nd.<op>) draw from NumPy's global
generator. The `_sample_*` forms (distribution parameters as tensors) are not provided.
"""
import numpy as np

from .base import OpDef, Param, ParamError, p_enum, p_float, p_int, p_optional, p_shape, register
from .constant import _constant_shape, p_ctx

_FLOAT_DTYPES = p_optional(p_enum("float16", "float32", "float64"))


def _params(**dist):
    params = {"shape": Param(p_shape, (), ge=0), "ctx": Param(p_ctx, ""),
              "dtype": Param(_FLOAT_DTYPES, None)}
    params.update(dist)
    return params


def _check(key, holds, why):
    def check(p):
        if not holds(p):
            raise ParamError(key, why)
    return check


def _sampler(draw):
    def reference(p, arrays, train=False):
        out = np.asarray(draw(p, tuple(p["shape"])))
        return [out.astype(p["dtype"] or "float32")]
    return reference


class RandomOp(OpDef):
    """A sampling operator: no inputs, no gradient; its kernel draws every output element."""

    def __init__(self, name, **kw):
        super().__init__(name, inputs=(), shape=_constant_shape, template="ops/random.c.j2",
                         uses_rng=True, differentiable=False, **kw)


register(RandomOp(
    "_random_uniform", aliases=("uniform", "random_uniform"),
    params=_params(low=Param(p_float, 0.0), high=Param(p_float, 1.0)),
    check=_check("high", lambda p: p["low"] <= p["high"], "must be >= low"),
    reference=_sampler(lambda p, s: np.random.uniform(p["low"], p["high"], size=s))))

register(RandomOp(
    "_random_normal", aliases=("normal", "random_normal"),
    params=_params(loc=Param(p_float, 0.0), scale=Param(p_float, 1.0, ge=0)),
    reference=_sampler(lambda p, s: np.random.normal(p["loc"], p["scale"], size=s))))

register(RandomOp(
    "_random_exponential", aliases=("exponential", "random_exponential"),
    params=_params(lam=Param(p_float, 1.0, gt=0)),
    reference=_sampler(lambda p, s: np.random.exponential(1.0 / p["lam"], size=s))))

register(RandomOp(
    "_random_randint", aliases=("randint", "random_randint"),
    params={"low": Param(p_int), "high": Param(p_int), "shape": Param(p_shape, (), ge=0),
            "ctx": Param(p_ctx, ""),
            "dtype": Param(p_optional(p_enum("int32", "int64")), None)},
    check=_check("high", lambda p: p["low"] < p["high"], "must be > low"),
    dtype_rule=lambda p, ins, outs: (ins, [p["dtype"] or "int32"]),
    reference=lambda p, arrays, train=False: [np.random.randint(
        p["low"], p["high"], size=tuple(p["shape"])).astype(p["dtype"] or "int32")]))
