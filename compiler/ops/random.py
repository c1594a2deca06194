"""Random sampling operators: _random_uniform, _random_normal, _random_exponential,
_random_randint (MXNet's random/sample_op.cc) as compiled kernels that draw from the arena's
generator, which `mx.random.seed` seeds through NumPy's global generator at bind; each forward
draws anew. Like the constants, a sample's `shape` may have unknown (0) dimensions that shape
inference fills from its consumers. The NumPy references (mx.nd.<op>) draw from NumPy's global
generator. The `_sample_*` forms (distribution parameters as tensors) are not provided.
"""
import numpy as np

from .base import (OpDef, Param, ParamError, known, p_enum, p_float, p_int, p_optional,
                   p_shape, register)
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
    """A sampling operator: no inputs, no gradient; its kernel draws every output element.
    The *_like forms take the shape of their one input (whose values are not read)."""

    def __init__(self, name, like=False, **kw):
        super().__init__(name, inputs=("data",) if like else (),
                         shape=_like_shape if like else _constant_shape,
                         template="ops/random.c.j2", uses_rng=True, differentiable=False, **kw)
        self.distribution = name[len("_random_"):].replace("_like", "")


def _like_shape(p, ins):
    return ins, [tuple(ins[0]) if known(ins[0]) else None]


def _like(draw):
    def reference(p, arrays, train=False):
        return [np.asarray(draw(p, arrays[0].shape)).astype(arrays[0].dtype)]
    return reference


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
    "_random_exponential", aliases=("random_exponential",),
    params=_params(lam=Param(p_float, 1.0, gt=0)),
    reference=_sampler(lambda p, s: np.random.exponential(1.0 / p["lam"], size=s))))

register(RandomOp(
    "_random_randint", aliases=("random_randint",),
    params={"low": Param(p_int), "high": Param(p_int), "shape": Param(p_shape, (), ge=0),
            "ctx": Param(p_ctx, ""),
            "dtype": Param(p_optional(p_enum("int32", "int64")), None)},
    check=_check("high", lambda p: p["low"] < p["high"], "must be > low"),
    dtype_rule=lambda p, ins, outs: (ins, [p["dtype"] or "int32"]),
    reference=lambda p, arrays, train=False: [np.random.randint(
        p["low"], p["high"], size=tuple(p["shape"])).astype(p["dtype"] or "int32")]))

# the *_like forms: the shape of `data`, the distribution's parameters only
register(RandomOp(
    "_random_uniform_like", like=True,
    params={"low": Param(p_float, 0.0), "high": Param(p_float, 1.0)},
    check=_check("high", lambda p: p["low"] <= p["high"], "must be >= low"),
    reference=_like(lambda p, s: np.random.uniform(p["low"], p["high"], size=s))))

register(RandomOp(
    "_random_normal_like", like=True,
    params={"loc": Param(p_float, 0.0), "scale": Param(p_float, 1.0, ge=0)},
    reference=_like(lambda p, s: np.random.normal(p["loc"], p["scale"], size=s))))

register(RandomOp(
    "_random_exponential_like", like=True, params={"lam": Param(p_float, 1.0, gt=0)},
    reference=_like(lambda p, s: np.random.exponential(1.0 / p["lam"], size=s))))
