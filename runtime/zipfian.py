"""Log-uniform (Zipfian) candidate sampling, as MXNet's contrib.rand_zipfian and
_sample_unique_zipfian: class k in [0, range_max) has probability
(log(k + 2) - log(k + 1)) / log(range_max + 1), drawn as floor(exp(u) - 1) for u uniform in
[0, log(range_max + 1)). Eager forms draw from NumPy's global generator (seeded by
mx.random.seed); the symbolic form composes compiled operators.
"""
import math

import numpy as np

from .base import MXNetError


def _check(num_sampled, range_max):
    if int(range_max) < 1 or int(num_sampled) < 0:
        raise MXNetError("rand_zipfian: range_max must be >= 1 and num_sampled >= 0, got %r "
                         "and %r" % (range_max, num_sampled))
    return int(num_sampled), int(range_max)


def _expected_count(classes, num_sampled, range_max):
    c = np.asarray(classes, dtype=np.float64)
    return np.log((c + 2.0) / (c + 1.0)) / math.log(range_max + 1) * num_sampled


def _draw(count, range_max):
    u = np.random.uniform(0, math.log(range_max + 1), size=count)
    return (np.exp(u) - 1).astype(np.int64) % range_max


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """(sampled classes int64, expected count of each true class, of each sampled class)."""
    from .ndarray import NDArray
    num_sampled, range_max = _check(num_sampled, range_max)
    sampled = _draw(num_sampled, range_max)
    truth = true_classes.asnumpy() if isinstance(true_classes, NDArray) else true_classes
    where = ctx if ctx is not None else getattr(true_classes, "context", None)
    return (NDArray(sampled, where),
            NDArray(_expected_count(truth, num_sampled, range_max), where),
            NDArray(_expected_count(sampled, num_sampled, range_max), where))


def rand_zipfian_symbol(true_classes, num_sampled, range_max):
    """The symbolic form: three outputs as rand_zipfian's, computed by compiled operators."""
    from . import symbol as sym
    num_sampled, range_max = _check(num_sampled, range_max)
    log_range = math.log(range_max + 1)
    u = sym.random.uniform(0, log_range, shape=(num_sampled,))
    sampled = sym.floor(sym.exp(u) - 1) % range_max

    def expected(c):
        return sym.log((c + 2.0) / (c + 1.0)) * (num_sampled / log_range)
    return sampled, expected(true_classes), expected(sampled)


def sample_unique_zipfian(range_max, shape=None, **kwargs):
    """(classes, num_trials): each row of `shape` (batch, num_sampled) holds distinct classes
    in the order first drawn; num_trials[b] is how many draws row b took."""
    from .ndarray import NDArray
    if shape is None or len(tuple(shape)) != 2:
        raise MXNetError("_sample_unique_zipfian: shape must be (batch_size, num_sampled), "
                         "got %r" % (shape,))
    batch, num_sampled = (int(s) for s in shape)
    num_sampled, range_max = _check(num_sampled, range_max)
    if num_sampled > range_max:
        raise MXNetError("_sample_unique_zipfian: %d distinct classes cannot be drawn from "
                         "range_max %d" % (num_sampled, range_max))
    classes = np.zeros((batch, num_sampled), dtype=np.int64)
    trials = np.zeros(batch, dtype=np.int64)
    for b in range(batch):
        seen, order, tried = set(), [], 0
        while len(order) < num_sampled:
            chunk = _draw(max(num_sampled - len(order), 64) * 2, range_max)
            for k, value in enumerate(chunk.tolist()):
                if value not in seen:
                    seen.add(value)
                    order.append(value)
                    if len(order) == num_sampled:
                        tried += k + 1
                        break
            else:
                tried += len(chunk)
        classes[b] = order
        trials[b] = tried
    return NDArray(classes), NDArray(trials)
