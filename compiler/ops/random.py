"""Random sampling operators: _random_uniform, _random_normal, _random_exponential,
_random_randint (MXNet's random/sample_op.cc) as compiled kernels that draw from the arena's
generator, which `mx.random.seed` seeds through NumPy's global generator at bind; each forward
draws anew. Like the constants, a sample's `shape` may have unknown (0) dimensions that shape
inference fills from its consumers. The NumPy references (mx.nd.<op>) draw from NumPy's global
generator. The `_sample_*` forms (distribution parameters as tensors) are not provided.
"""
import numpy as np

from .base import (OpDef, Param, ParamError, known, p_bool, p_enum, p_float, p_int, p_optional,
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


# ---- _shuffle and _sample_multinomial (MXNet's random/shuffle_op.cc, sample_multinomial_op.cc)

def _shuffle_geometry(p, shapes):
    d = shapes["data"]
    return dict(N=d[0] if d else 1, R=int(np.prod(d[1:], dtype=np.int64)) if d else 1)


def _shuffle_ref(p, arrays, train=False):
    x = arrays[0]
    return [np.ascontiguousarray(x[np.random.permutation(x.shape[0])])]


register(OpDef(
    "_shuffle", aliases=("shuffle",), shape=lambda p, ins: (ins, [ins[0]]),
    geometry=_shuffle_geometry, template="ops/sample.c.j2", uses_rng=True,
    has_gradient=False, reference=_shuffle_ref))


def _multinomial_outputs(p):
    return ["output0", "output1"] if p["get_prob"] else ["output"]


def _multinomial_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None] * len(_multinomial_outputs(p))
    out = tuple(d[:-1]) + tuple(p["shape"])
    return ins, [out or (1,)] * len(_multinomial_outputs(p))


def _multinomial_geometry(p, shapes):
    d = shapes["data"]
    return dict(K=d[-1], ROWS=int(np.prod(d[:-1], dtype=np.int64)),
                M=int(np.prod(p["shape"], dtype=np.int64)) if p["shape"] else 1)


def _multinomial_dtype(p, ins, outs):
    return ins, [p["dtype"]] + [ins[0]] * (len(outs) - 1)


def _multinomial_ref(p, arrays, train=False):
    """The kernel's walk: draw u in [0, 1) and take the first class whose cumulative
    probability exceeds it (the last class when none does)."""
    probs = np.asarray(arrays[0], dtype=np.float64)
    geo = _multinomial_geometry(p, {"data": probs.shape})
    rows = probs.reshape(geo["ROWS"], geo["K"])
    u = np.random.random_sample((geo["ROWS"], geo["M"]))
    cdf = np.cumsum(rows, axis=1)
    picks = np.minimum(np.stack([np.searchsorted(c, d, side="right") for c, d in zip(cdf, u)]),
                       geo["K"] - 1)
    shape = tuple(probs.shape[:-1]) + tuple(p["shape"]) or (1,)
    out = [picks.reshape(shape).astype(p["dtype"])]
    if p["get_prob"]:
        logp = np.log(np.take_along_axis(rows, picks, axis=1))
        out.append(logp.reshape(shape).astype(arrays[0].dtype))
    return out


register(OpDef(
    "_sample_multinomial", aliases=("sample_multinomial",),
    params={"shape": Param(p_shape, (), ge=0), "get_prob": Param(p_bool, False),
            "dtype": Param(p_enum("float16", "float32", "float64", "int32", "uint8"),
                           "int32")},
    outputs=_multinomial_outputs, shape=_multinomial_shape, dtype_rule=_multinomial_dtype,
    geometry=_multinomial_geometry, template="ops/sample.c.j2", uses_rng=True,
    reference=_multinomial_ref))
