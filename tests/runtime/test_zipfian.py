"""Log-uniform candidate sampling (mx.nd.contrib.rand_zipfian, mx.sym.contrib.rand_zipfian,
mx.nd._internal._sample_unique_zipfian) against the distribution's closed form."""
import math

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError


def _probability(k, range_max):
    return (np.log(k + 2.0) - np.log(k + 1.0)) / math.log(range_max + 1)


def test_rand_zipfian_frequencies_and_expected_counts():
    mx.random.seed(4)
    true = mx.nd.array([0, 3, 9], dtype=np.int32)
    sampled, count_true, count_sampled = mx.nd.contrib.rand_zipfian(true, 40000, 10)
    s = sampled.asnumpy()
    assert s.dtype == np.int64 and s.min() >= 0 and s.max() < 10
    freq = np.bincount(s, minlength=10) / s.size
    p = _probability(np.arange(10), 10)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / s.size))
    np.testing.assert_allclose(count_true.asnumpy(), _probability(np.array([0, 3, 9]), 10) * 40000)
    np.testing.assert_allclose(count_sampled.asnumpy(), _probability(s, 10) * 40000)


def test_symbolic_rand_zipfian_draws_in_range_with_matching_counts():
    t = mx.sym.Variable("t")
    outs = mx.sym.Group(list(mx.sym.contrib.rand_zipfian(t, 500, 20)))
    exe = outs.bind(mx.cpu(), {"t": mx.nd.array([1, 2, 5])})
    sampled, count_true, count_sampled = (o.asnumpy() for o in exe.forward())
    assert sampled.shape == (500,) and np.all((sampled >= 0) & (sampled < 20))
    assert np.all(sampled == np.floor(sampled))
    np.testing.assert_allclose(count_true, _probability(np.array([1, 2, 5]), 20) * 500,
                               rtol=1e-5)
    np.testing.assert_allclose(count_sampled, _probability(sampled, 20) * 500, rtol=1e-5)


def test_unique_zipfian_rows_are_distinct_and_trials_count_the_draws():
    mx.random.seed(1)
    classes, trials = mx.nd._internal._sample_unique_zipfian(50, shape=(3, 20))
    c, n = classes.asnumpy(), trials.asnumpy()
    assert c.shape == (3, 20) and n.shape == (3,)
    for row, tries in zip(c, n):
        assert len(set(row.tolist())) == 20 and row.min() >= 0 and row.max() < 50
        assert tries >= 20
    # every class drawn: all 5 distinct ones need at least 5 draws
    c, n = mx.nd._internal._sample_unique_zipfian(5, shape=(1, 5))
    assert sorted(c.asnumpy()[0].tolist()) == [0, 1, 2, 3, 4] and n.asnumpy()[0] >= 5
    with pytest.raises(MXNetError, match="distinct"):
        mx.nd._internal._sample_unique_zipfian(5, shape=(1, 6))
