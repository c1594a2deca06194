"""mx.random: seeding and sampling, all drawn from numpy's global RNG.

One `mx.random.seed(n)` makes NDArrayIter shuffles, initializers and the seeds handed to
compiled code reproducible.
"""
import numpy as np

from .ndarray import NDArray, _ctx_or_default, _dtype_type, _shape_tuple

__all__ = ["seed", "uniform", "normal", "randint", "next_c_seed"]


def seed(seed_state, ctx="all"):
    """Seed numpy's global RNG (the context argument is accepted for compatibility)."""
    if not isinstance(seed_state, (int, np.integer)):
        raise ValueError("seed_state must be an integer, got %r" % (seed_state,))
    np.random.seed(int(seed_state) % (2 ** 32))


def _fill(values, shape, dtype, ctx, out):
    if out is not None:
        if not isinstance(out, NDArray):
            raise TypeError("out must be an NDArray, got %s" % type(out).__name__)
        out[:] = values.reshape(out.shape).astype(out.dtype)
        return out
    return NDArray(np.ascontiguousarray(values.astype(_dtype_type(dtype))), _ctx_or_default(ctx))


def _target_shape(shape, out):
    if out is not None:
        return out.shape
    if shape is None:
        return (1,)
    return _shape_tuple(shape)


def uniform(low=0, high=1, shape=None, dtype="float32", ctx=None, out=None, **kwargs):
    """Samples from U[low, high)."""
    shape = _target_shape(shape, out)
    return _fill(np.random.uniform(low, high, size=shape), shape, dtype, ctx, out)


def normal(loc=0, scale=1, shape=None, dtype="float32", ctx=None, out=None, **kwargs):
    """Samples from N(loc, scale^2)."""
    shape = _target_shape(shape, out)
    return _fill(np.random.normal(loc, scale, size=shape), shape, dtype, ctx, out)


def randint(low, high, shape=None, dtype="int32", ctx=None, out=None, **kwargs):
    """Integer samples from [low, high)."""
    shape = _target_shape(shape, out)
    return _fill(np.random.randint(low, high, size=shape), shape, dtype, ctx, out)


def next_c_seed():
    """A fresh uint32 seed for generators in compiled code, drawn from numpy's global RNG."""
    return int(np.random.randint(0, 2 ** 32, dtype=np.uint64))
