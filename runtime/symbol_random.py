"""mx.sym.random: sampling symbols (uniform, normal, randn, exponential, randint, and
uniform_like / normal_like / exponential_like) compiled as kernels that draw from the bound
arena's generator (`mx.random.seed` makes them reproducible, also for executors bound before
it).

Distribution parameters are numbers, as for MXNet's _random_* operators; `multinomial`
(_sample_multinomial: distributions given as a Symbol) and `shuffle` are compiled too. MXNet's
other _sample_* forms, whose parameters are Symbols, and the gamma, Poisson and negative
binomial samplers are not provided here (each says so when called).
"""
from numbers import Number

from .base import MXNetError
from .compiler import symbol as _impl

__all__ = ["uniform", "normal", "randn", "exponential", "randint", "multinomial", "shuffle"]


def _numbers(name, **params):
    for key, value in params.items():
        if isinstance(value, _impl.Symbol):
            raise MXNetError("mx.sym.random.%s: %s is a Symbol; distribution parameters given "
                             "as Symbols (MXNet's _sample_%s) are not supported, give numbers"
                             % (name, key, name))
        if not isinstance(value, Number) or isinstance(value, bool):
            raise MXNetError("mx.sym.random.%s: %s must be a number, got %r" % (name, key, value))


def _sample(op, params, shape, dtype, kwargs):
    if shape is not None:
        params["shape"] = shape
    if dtype is not None:
        params["dtype"] = dtype
    params.update(kwargs)
    return getattr(_impl, op)(**params)


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    """Samples from U[low, high)."""
    _numbers("uniform", low=low, high=high)
    return _sample("_random_uniform", dict(low=low, high=high), shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    """Samples from N(loc, scale^2)."""
    _numbers("normal", loc=loc, scale=scale)
    return _sample("_random_normal", dict(loc=loc, scale=scale), shape, dtype, kwargs)


def randn(*shape, **kwargs):
    """Samples from N(loc, scale^2) of the given shape (loc and scale as keywords)."""
    loc, scale = kwargs.pop("loc", 0), kwargs.pop("scale", 1)
    return normal(loc, scale, shape or None, kwargs.pop("dtype", None), **kwargs)


def exponential(scale=1, shape=None, dtype=None, **kwargs):
    """Samples from the exponential distribution of mean `scale`."""
    _numbers("exponential", scale=scale)
    if scale <= 0:
        raise MXNetError("mx.sym.random.exponential: scale must be > 0, got %r" % scale)
    return _sample("_random_exponential", dict(lam=1.0 / scale), shape, dtype, kwargs)


def randint(low, high, shape=None, dtype=None, **kwargs):
    """Integers drawn uniformly from [low, high)."""
    _numbers("randint", low=low, high=high)
    return _sample("_random_randint", dict(low=low, high=high), shape, dtype, kwargs)


def multinomial(data, shape=None, get_prob=False, out=None, dtype="int32", **kwargs):
    """Class indices drawn from the distributions along data's last axis (output shape
    data.shape[:-1] + shape); with get_prob also each draw's log-probability."""
    if out is not None:
        raise MXNetError("mx.sym.random.multinomial: out= is for NDArrays, not Symbols")
    params = dict(data=data, get_prob=get_prob, dtype=dtype)
    if shape is not None:
        params["shape"] = shape
    params.update(kwargs)
    return _impl._sample_multinomial(**params)


def shuffle(data, **kwargs):
    """The rows of data (its first axis) in a random order."""
    return _impl._shuffle(data=data, **kwargs)


def __getattr__(name):
    """MXNet's generated members: _random_<name> operators as mx.sym.random.<name>
    (uniform_like, normal_like, exponential_like)."""
    from .compiler import ops
    if "_random_" + name in ops.FUNCTIONS:
        return getattr(_impl, "_random_" + name)
    if name in ("gamma", "poisson", "negative_binomial", "generalized_negative_binomial",
                "gamma_like", "poisson_like",
                "negative_binomial_like", "generalized_negative_binomial_like"):
        raise MXNetError("mx.sym.random.%s is not supported (compiled samplers: %s)"
                         % (name, ", ".join(__all__)))
    raise AttributeError("module 'mxc.symbol.random' has no attribute %r" % name)
