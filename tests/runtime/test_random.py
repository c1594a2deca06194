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


def _draw_twice(fn, **kwargs):
    mx.random.seed(11)
    first = fn(**kwargs).asnumpy()
    mx.random.seed(11)
    np.testing.assert_array_equal(fn(**kwargs).asnumpy(), first)
    return first


@pytest.mark.parametrize("name, kwargs, mean, var", [
    ("uniform", dict(low=-1.0, high=3.0), 1.0, 16 / 12),
    ("normal", dict(loc=2.0, scale=0.5), 2.0, 0.25),
    ("gamma", dict(alpha=3.0, beta=2.0), 6.0, 12.0),
    ("exponential", dict(scale=0.5), 0.5, 0.25),
    ("poisson", dict(lam=4.0), 4.0, 4.0),
    ("negative_binomial", dict(k=3, p=0.4), 3 * 0.6 / 0.4, 3 * 0.6 / 0.16),
    ("generalized_negative_binomial", dict(mu=2.0, alpha=0.5), 2.0, 2.0 + 0.5 * 4.0),
])
def test_samplers_have_mxnet_parameters_and_the_right_moments(name, kwargs, mean, var):
    for namespace in (mx.random, mx.nd.random):
        draws = _draw_twice(getattr(namespace, name), shape=(200, 100), **kwargs)
        assert draws.shape == (200, 100) and draws.dtype == np.float32
        assert abs(draws.mean() - mean) < 5 * np.sqrt(var / draws.size)
        assert abs(draws.var() - var) < 0.06 * var


def test_samplers_with_ndarray_parameters_draw_per_element():
    mx.random.seed(3)
    low, high = mx.nd.array([0, 10]), mx.nd.array([1, 20])
    draws = mx.nd.random.uniform(low, high, shape=(500,)).asnumpy()
    assert draws.shape == (2, 500)
    assert draws[0].min() >= 0 and draws[0].max() < 1 and draws[1].min() >= 10
    lam = mx.nd.array([[1.0], [50.0]])
    assert mx.nd.random.poisson(lam).shape == (2, 1)
    with pytest.raises(mx.base.MXNetError, match="all scalars or all NDArrays"):
        mx.nd.random.normal(mx.nd.zeros(2), 1.0)


def test_sampler_dtype_ctx_out_and_randn():
    assert mx.nd.random.normal(shape=(2, 3), dtype="float64").dtype is np.float64
    assert mx.random.uniform(shape=(2,), ctx=mx.cpu(0)).context == mx.cpu(0)
    out = mx.nd.zeros((4, 5), dtype="float64")
    assert mx.nd.random.gamma(2.0, 1.0, out=out) is out and out.asnumpy().min() > 0
    mx.random.seed(2)
    r = mx.nd.random.randn(3, 4, loc=1.0, scale=0.0)
    assert r.shape == (3, 4) and (r.asnumpy() == 1).all()
    with pytest.raises(mx.base.MXNetError, match="greater than low"):
        mx.random.randint(5, 5, shape=(2,))


def test_multinomial_follows_the_probabilities_and_gives_log_probs():
    mx.random.seed(4)
    probs = mx.nd.array([[0.1, 0.0, 0.9], [0.5, 0.5, 0.0]])
    samples, logp = mx.nd.random.multinomial(probs, shape=(4000,), get_prob=True)
    s = samples.asnumpy()
    assert s.shape == (2, 4000) and samples.dtype is np.int32
    assert abs((s[0] == 2).mean() - 0.9) < 0.02 and not (s[0] == 1).any()
    assert set(np.unique(s[1])) == {0, 1}
    np.testing.assert_allclose(logp.asnumpy(), np.log(probs.asnumpy()[[[0], [1]], s]), rtol=1e-6)
    single = mx.nd.random.multinomial(mx.nd.array([0.0, 1.0]))
    assert single.asnumpy().tolist() == [1]
    with pytest.raises(mx.base.MXNetError, match="probabilities"):
        mx.nd.random.multinomial(mx.nd.array([0.5, -0.1]))


def test_shuffle_permutes_rows_reproducibly():
    data = mx.nd.array(np.arange(20).reshape(10, 2))
    mx.random.seed(9)
    a = mx.random.shuffle(data).asnumpy()
    mx.random.seed(9)
    b = mx.nd.random.shuffle(data).asnumpy()
    np.testing.assert_array_equal(a, b)
    assert sorted(a[:, 0].tolist()) == list(range(0, 20, 2)) and (a[:, 1] == a[:, 0] + 1).all()
    assert not (a == data.asnumpy()).all()
    np.random.seed(9)
    np.testing.assert_array_equal(a, data.asnumpy()[np.random.permutation(10)])


def test_flat_sampler_names_of_mx_nd():
    mx.random.seed(6)
    a = mx.nd.random_uniform(-1, 1, shape=(3,)).asnumpy()
    mx.random.seed(6)
    np.testing.assert_array_equal(mx.nd.random.uniform(-1, 1, shape=(3,)).asnumpy(), a)
    assert mx.nd.sample_normal(mx.nd.zeros(2), mx.nd.ones(2), shape=(4,)).shape == (2, 4)
    with pytest.raises(AttributeError):
        mx.nd.random_seed  # noqa: B018


def test_flat_sampler_names_take_the_operators_parameters():
    """mx.nd.sample_normal(mu, sigma) / random_exponential(lam) read their own parameter names
    (lam is a rate); an unknown keyword is refused, never silently dropped."""
    import mxc as mx
    mx.random.seed(3)
    mu = mx.nd.array(np.array([5.0, -2.0]))
    sigma = mx.nd.array(np.array([0.1, 0.5]))
    draws = mx.nd.sample_normal(mu=mu, sigma=sigma, shape=(4000,)).asnumpy()
    assert draws.shape == (2, 4000)
    np.testing.assert_allclose(draws.mean(axis=1), [5.0, -2.0], atol=0.05)
    np.testing.assert_allclose(draws.std(axis=1), [0.1, 0.5], rtol=0.08)
    loc = mx.nd.random_normal(loc=3.0, scale=0.01, shape=(2000,)).asnumpy()
    assert abs(loc.mean() - 3.0) < 0.005
    rate = mx.nd.random_exponential(lam=4.0, shape=(40000,)).asnumpy()
    assert abs(rate.mean() - 0.25) < 0.01          # mean of an exponential is 1 / rate
    per_row = mx.nd._sample_exponential(lam=mx.nd.array(np.array([2.0, 10.0])),
                                        shape=(40000,)).asnumpy()
    np.testing.assert_allclose(per_row.mean(axis=1), [0.5, 0.1], rtol=0.04)
    with pytest.raises(mx.base.MXNetError, match="unknown argument mu"):
        mx.nd.random.normal(mu=1.0, shape=(2,))
    with pytest.raises(mx.base.MXNetError, match="unknown argument"):
        mx.random.uniform(0, 1, shape=(2,), lo=3)
