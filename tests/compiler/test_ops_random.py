"""Sampling symbols (mx.sym.random.uniform / normal / randn / exponential / randint, the
*_like forms and the _random_* operators) compiled as kernels on the arena's generator:
moments and distribution shapes against closed forms, reproducibility under mx.random.seed
(also of executors bound before it), fresh draws per forward, shapes (given, or inferred from
the consumer), gradients through a graph that samples, MXNet's parameter checks, and the CUDA
kernels built with nvcc."""
import json
import math
import os

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

N = 20000          # draws per distribution: sample means within 5 standard errors


def _draws(seed=7):
    syms = [mx.sym.random.uniform(-1, 3, shape=(100, 200)),
            mx.sym.random.normal(2.0, 0.5, shape=(101, 199)),        # odd count: a lone draw
            mx.sym.random.exponential(2.0, shape=(N,)),
            mx.sym.random.randint(2, 7, shape=(N,)),
            mx.sym.random.randn(50, 400, loc=-1.0, scale=3.0)]
    mx.random.seed(seed)
    exe = mx.sym.Group(syms).simple_bind(mx.cpu())
    return exe, [o.asnumpy().astype(np.float64) for o in exe.forward()]


def _within(sample, mean, var, k=5.0):
    se = math.sqrt(var / sample.size)
    assert abs(sample.mean() - mean) < k * se, (sample.mean(), mean, se)


def test_moments_match_the_distributions():
    _, (u, n, e, r, z) = _draws()
    assert u.shape == (100, 200) and n.shape == (101, 199) and z.shape == (50, 400)
    assert u.min() >= -1 and u.max() < 3
    _within(u, 1.0, 16 / 12)
    _within((u - 1) ** 2, 16 / 12, 4 ** 4 / 80 - (16 / 12) ** 2)     # E (u - m)^2, its variance
    _within(n, 2.0, 0.25)
    _within((n - 2) ** 2, 0.25, 2 * 0.25 ** 2)
    _within(z, -1.0, 9.0)
    _within(e, 2.0, 4.0)
    assert e.min() >= 0
    assert set(np.unique(r)) == {2.0, 3.0, 4.0, 5.0, 6.0}
    _within(r, 4.0, (5 ** 2 - 1) / 12)


def _chi_square_ok(counts, probs):
    """Pearson's statistic under 3 x its degrees of freedom (far in the tail for df >= 9)."""
    expected = counts.sum() * np.asarray(probs)
    stat = ((counts - expected) ** 2 / expected).sum()
    return stat < 3 * (len(counts) - 1), stat


def test_histograms_follow_the_cdfs():
    _, (u, n, e, r, _) = _draws(seed=11)
    edges = np.linspace(-1, 3, 11)
    ok, stat = _chi_square_ok(np.histogram(u, edges)[0], [0.1] * 10)
    assert ok, stat
    cdf = [0.5 * (1 + math.erf((t - 2.0) / (0.5 * math.sqrt(2)))) for t in
           np.linspace(0.5, 3.5, 11)]
    inner = np.histogram(n, np.linspace(0.5, 3.5, 11))[0]
    ok, stat = _chi_square_ok(inner, np.diff(cdf) / (cdf[-1] - cdf[0]))
    assert ok, stat
    ecdf = [1 - math.exp(-t / 2.0) for t in np.linspace(0, 6, 11)]
    ok, stat = _chi_square_ok(np.histogram(e, np.linspace(0, 6, 11))[0],
                              np.diff(ecdf) / ecdf[-1])
    assert ok, stat
    ok, stat = _chi_square_ok(np.bincount(r.astype(int))[2:], [0.2] * 5)
    assert ok, stat


def test_seed_reproduces_and_each_forward_draws_anew():
    exe, first = _draws(seed=5)
    second = [o.asnumpy().astype(np.float64) for o in exe.forward()]
    assert all(np.mean(a != b) > 0.9 for a, b in zip(first[:3], second[:3]))
    _, again = _draws(seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    _, other = _draws(seed=6)
    assert not np.array_equal(first[0], other[0])


def test_seed_after_bind_restarts_the_draws_as_mxnet():
    """mx.random.seed also reseeds executors bound before it (MXNet's test_random pattern)."""
    x = mx.sym.Variable("x")
    sym = mx.sym.random.normal(1.0, 2.0, shape=(4, 6)) + x
    exe = sym.simple_bind(mx.cpu(), x=(4, 6))
    mx.random.seed(128)
    first = exe.forward(is_train=True, x=np.zeros((4, 6)))[0].asnumpy().copy()
    later = exe.forward(x=np.zeros((4, 6)))[0].asnumpy().copy()
    mx.random.seed(128)
    again = exe.forward(x=np.zeros((4, 6)))[0].asnumpy().copy()
    assert np.array_equal(first, again) and not np.array_equal(first, later)


def test_like_forms_take_the_shape_of_their_input():
    data = mx.sym.Variable("data")
    syms = [mx.sym.random.uniform_like(data, low=2, high=4),
            mx.sym.random.normal_like(data, loc=-1, scale=0.5),
            mx.sym.random.exponential_like(data, lam=4.0)]
    assert mx.sym.Group(syms).infer_shape(data=(80, 100))[1] == [(80, 100)] * 3
    mx.random.seed(4)
    exe = (mx.sym.Group(syms)).simple_bind(mx.cpu(), data=(80, 100), grad_req="null")
    u, n, e = [o.asnumpy().astype(np.float64) for o in exe.forward(data=np.ones((80, 100)))]
    assert u.min() >= 2 and u.max() < 4
    _within(u, 3.0, 4 / 12)
    _within(n, -1.0, 0.25)
    _within(e, 0.25, 1 / 16)
    # the input's values are not read and get no gradient
    sym = mx.sym.random.normal_like(data) * 0 + data
    exe = sym.simple_bind(mx.cpu(), data=(2, 3))
    exe.forward(is_train=True, data=np.ones((2, 3)))
    exe.backward(mx.nd.ones((2, 3)))
    assert np.all(exe.grad_dict["data"].asnumpy() == 1)


def test_float64_build_draws_the_same_distribution():
    x = mx.sym.Variable("x")
    sym = x + mx.sym.random.normal(shape=(200, 100), dtype="float64")
    mx.random.seed(1)
    exe = sym.simple_bind(mx.cpu(), x=(200, 100), type_dict={"x": np.float64})
    out = exe.forward(x=np.zeros((200, 100)))[0].asnumpy()
    _within(out, 0.0, 1.0)
    _within(out ** 2, 1.0, 2.0)


def test_shape_inferred_from_the_consumer_and_gradient_through_a_sample():
    x = mx.sym.Variable("x")
    noise = mx.sym.random.uniform(0.5, 1.5, name="noise")           # shape from x
    sym = x * noise
    assert sym.infer_shape(x=(3, 4))[1] == [(3, 4)]
    mx.random.seed(2)
    exe = sym.simple_bind(mx.cpu(), x=(3, 4))
    xv = np.random.RandomState(3).normal(size=(3, 4))
    y = exe.forward(is_train=True, x=xv)[0].asnumpy()
    head = np.random.RandomState(4).normal(size=(3, 4))
    exe.backward(mx.nd.array(head))
    drawn = y / xv                                                   # the noise itself
    assert np.all((drawn > 0.5 - 1e-4) & (drawn < 1.5 + 1e-4))
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), head * drawn, rtol=1e-4,
                               atol=1e-5)


def test_operator_names_aliases_and_json():
    with mx.name.NameManager():
        s = mx.sym.random.uniform(0, 2, shape=(2, 3))
        assert s.name == "_random_uniform0"
        node = [n for n in json.loads(s.tojson())["nodes"] if n["op"] != "null"][0]
        assert node["op"] == "_random_uniform"
        assert node["attrs"]["shape"] == "(2, 3)" and node["attrs"]["high"] == "2"
    assert mx.sym.load_json(s.tojson()).infer_shape()[1] == [(2, 3)]
    for alias, name in (("uniform", "_random_uniform"), ("random_normal", "_random_normal"),
                        ("normal", "_random_normal"), ("random_randint", "_random_randint")):
        assert getattr(mx.sym, alias)(shape=(1,), **({"low": 0, "high": 2}
                                                     if name == "_random_randint" else {})) \
            .tojson().count('"op": "%s"' % name) == 1


def test_parameter_errors():
    with pytest.raises(MXNetError, match="high"):
        mx.sym.random.uniform(2, 1, shape=(2,))
    with pytest.raises(MXNetError, match="scale"):
        mx.sym.random.normal(0, -1, shape=(2,))
    with pytest.raises(MXNetError, match="high"):
        mx.sym.random.randint(3, 3, shape=(2,))
    with pytest.raises(MXNetError, match="Symbol"):
        mx.sym.random.normal(mx.sym.Variable("mu"), 1, shape=(2,))
    with pytest.raises(MXNetError, match="not supported"):
        mx.sym.random.poisson(1.0, shape=(2,))
    with pytest.raises(MXNetError, match="cannot infer the shape.*_random_uniform"):
        mx.sym.Group([mx.sym.random.uniform()]).simple_bind(mx.cpu())


def test_imperative_forms_draw_from_numpy_seeded_by_mx_random():
    mx.random.seed(9)
    a = mx.nd._random_normal(shape=(3, 4), loc=1.0).asnumpy()
    b = mx.nd.uniform(low=2, high=3, shape=(5,)).asnumpy()
    mx.random.seed(9)
    assert np.array_equal(a, mx.nd._random_normal(shape=(3, 4), loc=1.0).asnumpy())
    assert np.array_equal(b, mx.nd.uniform(low=2, high=3, shape=(5,)).asnumpy())
    assert a.dtype == np.float32 and np.all((b >= 2) & (b < 3))


def test_shuffle_permutes_rows_and_has_no_gradient():
    x = np.arange(7 * 3, dtype=np.float64).reshape(7, 3)
    exe = mx.sym.random.shuffle(mx.sym.Variable("x")).simple_bind(mx.cpu(), x=(7, 3),
                                                                  grad_req="null")
    mx.random.seed(3)
    seen = set()
    for _ in range(40):
        out = exe.forward(x=x)[0].asnumpy()
        assert sorted(map(tuple, out)) == sorted(map(tuple, x))     # whole rows, moved
        seen.add(tuple(out[:, 0]))
    assert len(seen) > 30                                  # 7! orders: nearly all distinct
    mx.random.seed(3)
    first = exe.forward(x=x)[0].asnumpy()
    mx.random.seed(3)
    np.testing.assert_array_equal(exe.forward(x=x)[0].asnumpy(), first)
    with pytest.raises(MXNetError, match="_shuffle"):
        mx.sym.random.shuffle(mx.sym.Variable("x")).simple_bind(mx.cpu(), x=(7, 3))
    nd = mx.nd.random.shuffle(mx.nd.array(x)).asnumpy()
    assert sorted(map(tuple, nd)) == sorted(map(tuple, x))


def test_multinomial_frequencies_log_probabilities_and_gradient():
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.2, 0.1]])
    d = mx.sym.Variable("d")
    sym = mx.sym.random.multinomial(d, shape=(N // 4,), get_prob=True)
    assert sym.infer_shape(d=(2, 4))[1] == [(2, N // 4), (2, N // 4)]
    assert sym.infer_type(d=np.float32)[1] == [np.int32, np.float32]
    mx.random.seed(11)
    exe = sym.simple_bind(mx.cpu(), d=(2, 4), type_dict={"d": np.float64})
    draws, logp = (o.asnumpy() for o in exe.forward(is_train=True, d=probs))
    for row, p in zip(draws.astype(int), probs):
        freq = np.bincount(row, minlength=4) / row.size
        se = np.sqrt(p * (1 - p) / row.size)
        assert np.all(np.abs(freq - p) <= 5 * se + 1e-12), (freq, p)
    picked = np.take_along_axis(probs, draws.astype(int), axis=1)
    np.testing.assert_allclose(logp, np.log(picked), rtol=1e-6)
    reward = np.random.default_rng(0).uniform(-1, 1, logp.shape)
    exe.backward([mx.nd.zeros(draws.shape), mx.nd.array(reward)])
    want = np.zeros_like(probs)
    for b in range(2):                                     # MXNet's rule: g / p at each draw
        np.add.at(want[b], draws[b].astype(int), reward[b] / picked[b])
    np.testing.assert_allclose(exe.grad_dict["d"].asnumpy(), want, rtol=1e-6)
    # without get_prob: one output, a zero gradient
    plain = mx.sym.random.multinomial(d).simple_bind(mx.cpu(), d=(2, 4))
    plain.forward(is_train=True, d=probs)
    plain.backward([mx.nd.ones((2,))])
    assert plain.outputs[0].shape == (2,) and not plain.grad_dict["d"].asnumpy().any()
    ref = mx.nd.random.multinomial(mx.nd.array(probs), shape=5, get_prob=True)
    assert ref[0].shape == (2, 5) and ref[0].dtype == np.int32


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    x = mx.sym.Variable("x")
    syms = [x * mx.sym.random.uniform(shape=(4, 5), name="u"),
            mx.sym.random.normal(shape=(3, 3), name="n"),
            mx.sym.random.exponential(shape=(2,), name="e"),
            mx.sym.random.randint(0, 4, shape=(6,), name="r"),
            mx.sym.random.normal_like(x, name="nl"),
            mx.sym.random.shuffle(x, name="sh"),
            mx.sym.random.multinomial(mx.sym.softmax(x), shape=(3,), get_prob=True,
                                      name="mn")[1]]
    plan = make_plan(mx.sym.Group(syms), {"x": (4, 5)}, ["x"], [], grad_req={"x": "write"})
    src, cdef = cuda.render(plan)
    for name in ("u", "n", "e", "r", "nl", "sh", "mn"):
        assert "%s_fwd_k" % name in src, name
    assert src.count("mxc_rng_advance(rng);") >= 5
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
