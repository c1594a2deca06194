"""mx.random and mx.nd.random: seeding and sampling, all drawn from numpy's global RNG.

One `mx.random.seed(n)` makes NDArrayIter shuffles, initializers, these samplers and the
seeds handed to compiled code reproducible. The samplers take MXNet's parameter names; a
distribution parameter given as an NDArray draws `shape` samples per element (output shape
param.shape + shape), as MXNet's sample_* operators do.
"""
import numpy as np

from .base import MXNetError, numeric_types
from .ndarray import NDArray, _ctx_or_default, _dtype_type, _shape_tuple

__all__ = ["seed", "uniform", "normal", "randn", "randint", "gamma", "exponential", "poisson",
           "negative_binomial", "generalized_negative_binomial", "multinomial", "shuffle",
           "next_c_seed"]


def seed(seed_state, ctx="all"):
    """Seed numpy's global RNG (the context argument is accepted for compatibility)."""
    if not isinstance(seed_state, (int, np.integer)):
        raise ValueError("seed_state must be an integer, got %r" % (seed_state,))
    np.random.seed(int(seed_state) % (2 ** 32))
    _SEEDINGS[0] += 1


# calls of seed() so far: an executor bound before the latest one reseeds its arena's generator
# at its next run, as MXNet's seed reseeds every device's generator
_SEEDINGS = [0]


def seedings():
    """How many times seed() has run."""
    return _SEEDINGS[0]


def _fill(values, dtype, ctx, out):
    """The samples as a new NDArray, or written into `out` (its dtype wins)."""
    if out is not None:
        if not isinstance(out, NDArray):
            raise TypeError("out must be an NDArray, got %s" % type(out).__name__)
        out[:] = values.reshape(out.shape).astype(out.dtype)
        return out
    return NDArray(np.ascontiguousarray(values.astype(_dtype_type(dtype))), _ctx_or_default(ctx))


def _sample_shape(shape, out):
    if out is not None:
        return out.shape
    if shape is None:
        return (1,)
    return _shape_tuple(shape)


def _distribution_params(name, values):
    """Scalars, or NumPy arrays when the parameters are NDArrays (all or none of them)."""
    arrays = [isinstance(v, NDArray) for v in values]
    if any(arrays) and not all(arrays):
        raise MXNetError("mx.random.%s: the distribution parameters must be all scalars or all "
                         "NDArrays, got %s" % (name, ", ".join(type(v).__name__ for v in values)))
    if all(arrays):
        first = values[0].shape
        for v in values[1:]:
            if v.shape != first:
                raise MXNetError("mx.random.%s: parameter arrays have shapes %s and %s"
                                 % (name, first, v.shape))
        return [v._data for v in values], values[0]
    for v in values:
        if not isinstance(v, (numeric_types, np.generic)):
            raise MXNetError("mx.random.%s: expected a number or an NDArray, got %r" % (name, v))
    return list(values), None


def _refuse_unknown(name, kwargs):
    """MXNet's samplers pass extra keywords to the operator, which refuses unknown ones."""
    unknown = sorted(k for k in kwargs if k != "name")
    if unknown:
        raise MXNetError("mx.random.%s: unknown argument%s %s"
                         % (name, "s" if len(unknown) > 1 else "", ", ".join(unknown)))


def _draw(name, draw, params, shape, dtype, ctx, out, kwargs=None):
    """Samples of `draw(*params, size)`; NDArray parameters give param.shape + shape."""
    _refuse_unknown(name, kwargs or {})
    values, like = _distribution_params(name, params)
    if like is None:
        size = _sample_shape(shape, out)
        return _fill(np.asarray(draw(*values, size=size)), dtype, ctx, out)
    extra = () if shape is None else _shape_tuple(shape)
    size = like.shape + extra
    expand = [v.reshape(v.shape + (1,) * len(extra)) for v in values]
    samples = np.asarray(draw(*expand, size=size))
    if dtype is None and out is None:
        dtype = like.dtype
    return _fill(samples, dtype, ctx or like.context, out)


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from U[low, high)."""
    return _draw("uniform", np.random.uniform, (low, high), shape, dtype, ctx, out, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from N(loc, scale^2)."""
    return _draw("normal", np.random.normal, (loc, scale), shape, dtype, ctx, out, kwargs)


def randn(*shape, **kwargs):
    """Samples from N(loc, scale^2) with the shape given positionally."""
    loc, scale = kwargs.pop("loc", 0), kwargs.pop("scale", 1)
    return normal(loc, scale, shape=shape or None, **kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from Gamma(shape alpha, scale beta)."""
    return _draw("gamma", np.random.gamma, (alpha, beta), shape, dtype, ctx, out, kwargs)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the exponential distribution of mean `scale` (rate 1/scale)."""
    return _draw("exponential", np.random.exponential, (scale,), shape, dtype, ctx, out, kwargs)


def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from Poisson(lam), as floating-point values like MXNet."""
    return _draw("poisson", np.random.poisson, (lam,), shape, dtype, ctx, out, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Failures before the k-th success of trials succeeding with probability p."""
    return _draw("negative_binomial", np.random.negative_binomial, (k, p), shape, dtype, ctx,
                 out, kwargs)


def _generalized_negative_binomial(mu, alpha, size):
    """Negative binomial of mean mu and dispersion alpha: Poisson of a Gamma(1/alpha, alpha mu)
    rate (Poisson(mu) where alpha is 0)."""
    mu, alpha = np.broadcast_to(mu, size), np.broadcast_to(alpha, size)
    safe = np.where(alpha > 0, alpha, 1.0)
    rate = np.where(alpha > 0, np.random.gamma(1 / safe, safe * mu, size=size), mu)
    return np.random.poisson(rate)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, ctx=None, out=None,
                                  **kwargs):
    """Samples from the negative binomial of mean mu and dispersion alpha."""
    return _draw("generalized_negative_binomial", _generalized_negative_binomial, (mu, alpha),
                 shape, dtype, ctx, out, kwargs)


def randint(low, high, shape=None, dtype="int32", ctx=None, out=None, **kwargs):
    """Integer samples from [low, high)."""
    if not high > low:
        raise MXNetError("mx.random.randint: high (%r) must be greater than low (%r)"
                         % (high, low))
    return _draw("randint", np.random.randint, (low, high), shape, dtype, ctx, out, kwargs)


def _check_probabilities(probs):
    if probs.ndim < 1 or probs.shape[-1] < 1:
        raise MXNetError("mx.random.multinomial: data must hold probabilities along its last "
                         "axis, got shape %s" % (probs.shape,))
    if (probs < 0).any() or not np.all(np.isfinite(probs)):
        raise MXNetError("mx.random.multinomial: probabilities must be finite and >= 0")
    if (probs.sum(axis=-1) <= 0).any():
        raise MXNetError("mx.random.multinomial: every distribution needs probabilities "
                         "with a positive sum")


def multinomial(data, shape=None, get_prob=False, out=None, dtype="int32", **kwargs):
    """Category indices drawn from the distributions along data's last axis: output shape
    data.shape[:-1] + shape; with get_prob, also the log-probability of each draw."""
    if not isinstance(data, NDArray):
        raise TypeError("multinomial: data must be an NDArray, got %s" % type(data).__name__)
    probs = data._data.astype(np.float64)
    _check_probabilities(probs)
    extra = () if shape is None else _shape_tuple(shape)
    rows = probs.reshape(-1, probs.shape[-1])
    cdf = np.cumsum(rows, axis=1)
    cdf /= cdf[:, -1:]
    draws = np.random.uniform(size=(rows.shape[0], int(np.prod(extra, dtype=np.int64))))
    picks = np.stack([np.searchsorted(c, d, side="right") for c, d in zip(cdf, draws)])
    picks = np.minimum(picks, probs.shape[-1] - 1)
    full_shape = probs.shape[:-1] + extra
    samples = picks.reshape(full_shape or (1,))
    result = _fill(samples, dtype, None, out) if out is not None else \
        NDArray(samples.astype(_dtype_type(dtype)), data.context)
    if not get_prob:
        return result
    chosen = np.take_along_axis(rows, picks, axis=1).reshape(samples.shape)
    with np.errstate(divide="ignore"):
        log_prob = np.log(chosen).astype(data.dtype)
    return [result, NDArray(log_prob, data.context)]


def shuffle(data, **kwargs):
    """A copy of `data` with its rows (first axis) in random order."""
    if not isinstance(data, NDArray):
        raise TypeError("shuffle: data must be an NDArray, got %s" % type(data).__name__)
    order = np.random.permutation(data.shape[0])
    out = kwargs.get("out")
    result = np.ascontiguousarray(data._data[order])
    if out is not None:
        out[:] = result
        return out
    return NDArray(result, data.context)


def next_c_seed():
    """A fresh uint32 seed for generators in compiled code, drawn from numpy's global RNG."""
    return int(np.random.randint(0, 2 ** 32, dtype=np.uint64))


# MXNet's flat operators name the parameters their own way: _random_<dist> as the mx.random
# function, _sample_<dist> (per-element NDArray parameters) with mu / sigma / lam, and both
# exponentials take the rate lam where mx.random.exponential takes the scale.
_FLAT_NAMES = {
    "uniform": (("low", "high"), ("low", "high")),
    "normal": (("loc", "scale"), ("mu", "sigma")),
    "gamma": (("alpha", "beta"), ("alpha", "beta")),
    "exponential": (("lam",), ("lam",)),
    "poisson": (("lam",), ("lam",)),
    "negative_binomial": (("k", "p"), ("k", "p")),
    "generalized_negative_binomial": (("mu", "alpha"), ("mu", "alpha")),
    "randint": (("low", "high"), ("low", "high")),
}


def flat_sampler(prefix, base):
    """mx.nd.random_<dist> / sample_<dist> (with or without a leading underscore): the
    sampler under the operator's own parameter names, or None for other names."""
    if base not in _FLAT_NAMES:
        return None
    names = _FLAT_NAMES[base][1 if prefix.strip("_") == "sample" else 0]
    target = globals()[base]

    def sampler(*args, **kwargs):
        if len(args) > len(names):
            raise MXNetError("%s%s: takes at most %d positional arguments (%s), got %d"
                             % (prefix, base, len(names), ", ".join(names), len(args)))
        values = list(args)
        for key in names[len(args):]:
            if key in kwargs:
                values.append(kwargs.pop(key))
            else:
                break
        if len(values) < len(names) and any(k in kwargs for k in names):
            raise MXNetError("%s%s: give %s in order" % (prefix, base, ", ".join(names)))
        if base == "exponential" and values:
            rate = values[0]
            values[0] = 1.0 / rate if not isinstance(rate, NDArray) else \
                NDArray(1.0 / rate._data, rate.context)
        return target(*values, **kwargs)

    sampler.__name__ = prefix + base
    sampler.__doc__ = "MXNet's %s%s(%s, shape, dtype, ...)." % (prefix, base, ", ".join(names))
    return sampler
