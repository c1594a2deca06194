"""Tests for mx.random."""
import numpy as np
import pytest

import mxc as mx


def test_seed_makes_draws_reproducible_and_matches_numpy():
    mx.random.seed(7)
    a = mx.random.uniform(-1, 2, shape=(3, 4))
    mx.random.seed(7)
    b = mx.random.uniform(-1, 2, shape=(3, 4))
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    np.random.seed(7)
    want = np.random.uniform(-1, 2, size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(a.asnumpy(), want)
    assert a.dtype is np.float32 and a.shape == (3, 4)
    assert a.asnumpy().min() >= -1 and a.asnumpy().max() < 2


def test_normal_into_out():
    out = mx.nd.zeros((500,))
    mx.random.seed(1)
    res = mx.random.normal(2.0, 0.5, out=out)
    assert res is out
    np.random.seed(1)
    np.testing.assert_allclose(out.asnumpy(), np.random.normal(2.0, 0.5, 500), rtol=1e-6)
    assert abs(out.asnumpy().mean() - 2.0) < 0.1


def test_randint_and_dtype():
    mx.random.seed(0)
    r = mx.random.randint(3, 9, shape=(100,))
    assert r.dtype is np.int32 and 3 <= r.asnumpy().min() and r.asnumpy().max() < 9
    assert mx.random.uniform(shape=2, dtype="float64").dtype is np.float64


def test_next_c_seed():
    mx.random.seed(5)
    first = [mx.random.next_c_seed() for _ in range(3)]
    mx.random.seed(5)
    assert [mx.random.next_c_seed() for _ in range(3)] == first
    assert all(isinstance(s, int) and 0 <= s < 2 ** 32 for s in first)
    assert len(set(first)) == 3


def test_seed_rejects_non_integer():
    with pytest.raises(ValueError, match="seed_state"):
        mx.random.seed("abc")
