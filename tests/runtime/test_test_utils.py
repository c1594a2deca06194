"""mx.test_utils and mx.base helpers, each against an independent expectation."""
import gzip
import math
import os
import statistics
import struct
import sys

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu


def test_default_context_follows_set_default_context():
    assert tu.default_context() == mx.cpu(0)
    try:
        tu.set_default_context(mx.cpu(3))
        assert tu.default_context() == mx.cpu(3)
        assert mx.context.current_context() == mx.cpu(3)
    finally:
        tu.set_default_context(mx.cpu(0))
    assert tu.default_dtype() == np.float32


def test_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("MXC_TU_KEEP", "old")
    monkeypatch.delenv("MXC_TU_NEW", raising=False)
    with tu.environment({"MXC_TU_KEEP": "new", "MXC_TU_NEW": "1"}):
        assert os.environ["MXC_TU_KEEP"] == "new" and os.environ["MXC_TU_NEW"] == "1"
    assert os.environ["MXC_TU_KEEP"] == "old" and "MXC_TU_NEW" not in os.environ
    with pytest.raises(KeyError):
        with tu.environment("MXC_TU_KEEP", None):
            assert "MXC_TU_KEEP" not in os.environ
            raise KeyError("body fails")
    assert os.environ["MXC_TU_KEEP"] == "old"

    @tu.environment("MXC_TU_NEW", "decorated")
    def read():
        return os.environ.get("MXC_TU_NEW")
    assert read() == "decorated" and "MXC_TU_NEW" not in os.environ
    assert tu.set_env_var("MXC_TU_NEW", "x", default_val="none") == "none"
    assert tu.set_env_var("MXC_TU_NEW", "y") == "x"
    monkeypatch.delenv("MXC_TU_NEW")


def test_rand_shapes_stay_in_bounds():
    np.random.seed(1)
    shapes = [tu.rand_shape_nd(4, dim=3) for _ in range(300)]
    sides = np.array(shapes)
    assert sides.shape == (300, 4) and sides.min() == 1 and sides.max() == 3
    assert all(type(d) is int for d in shapes[0])
    zero = np.array([tu.rand_shape_nd(3, dim=2, allow_zero_size=True) for _ in range(300)])
    assert zero.min() == 0 and zero.max() == 2
    a, b = tu.rand_shape_2d(2, 5)
    assert 1 <= a <= 2 and 1 <= b <= 5
    assert all(1 <= d <= 4 for d in tu.rand_shape_3d(4, 4, 4))


def test_rand_ndarray_dense_and_refuses_unknown_storage():
    arr = tu.rand_ndarray((3, 4), dtype=np.float64)
    assert arr.shape == (3, 4) and arr.dtype == np.float64
    with pytest.raises(mx.base.MXNetError, match="coo"):
        tu.rand_ndarray((3, 4), stype="coo")


def test_np_reduce_matches_numpy_multi_axis():
    x = np.random.normal(size=(2, 3, 4, 5))
    np.testing.assert_allclose(tu.np_reduce(x, (1, 3), True, np.sum),
                               np.sum(x, axis=(1, 3), keepdims=True))
    np.testing.assert_allclose(tu.np_reduce(x, None, False, np.max), np.max(x))
    np.testing.assert_allclose(tu.np_reduce(x, -1, False, np.sum), x.sum(axis=-1))


def test_same_and_same_array():
    a = mx.nd.array(np.arange(6.0).reshape(2, 3))
    assert tu.same(a.asnumpy(), np.arange(6.0).reshape(2, 3))
    assert not tu.same(np.zeros(3), np.zeros(4))
    assert tu.same_array(a, a)
    copy = a.copyto(mx.cpu())
    assert not tu.same_array(a, copy)
    assert tu.same(a.asnumpy(), np.arange(6.0).reshape(2, 3))   # left as it was


def test_assert_allclose_and_assert_exception():
    tu.assert_allclose(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    with pytest.raises(AssertionError):
        tu.assert_allclose(np.array([1.0]), np.array([1.0 + 1e-6]))
    tu.assert_exception(int, ValueError, "x")
    with pytest.raises(AssertionError):
        tu.assert_exception(int, ValueError, "3")


def test_retry_reruns_until_pass():
    calls = []

    @tu.retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) >= 2
    flaky()
    assert len(calls) == 2

    @tu.retry(2)
    def always():
        calls.append(1)
        assert False
    with pytest.raises(AssertionError):
        always()
    assert len(calls) == 4


def test_discard_stderr_silences_file_descriptor(capfd):
    with tu.discard_stderr():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    err = capfd.readouterr().err
    assert "hidden" not in err and "shown" in err


def test_random_arrays_shapes_and_dtype():
    one = tu.random_arrays((2, 3))
    many = tu.random_arrays((2,), ())
    assert one.shape == (2, 3) and one.dtype == np.float32
    assert [m.shape for m in many] == [(2,), ()]


def test_chi_square_sf_closed_forms():
    # chi2 survival: dof 2 -> exp(-x/2); even dof 2k -> exp(-x/2) sum_{i<k} (x/2)^i / i!;
    # dof 1 -> erfc(sqrt(x/2)).
    for x in (0.01, 0.5, 3.0, 12.0, 60.0):
        assert math.isclose(tu.chi_square_sf(x, 2), math.exp(-x / 2), rel_tol=1e-12)
        for k in (2, 5, 10):
            want = math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(k))
            assert math.isclose(tu.chi_square_sf(x, 2 * k), want, rel_tol=1e-10)
        assert math.isclose(tu.chi_square_sf(x, 1), math.erfc(math.sqrt(x / 2)),
                            rel_tol=1e-10, abs_tol=1e-300)


def _normal_buckets(n):
    return tu.gen_buckets_probs_with_ppf(
        lambda p: statistics.NormalDist().inv_cdf(p) if 0 < p < 1 else math.copysign(
            math.inf, p - 0.5), n)


def test_verify_generator_accepts_normal_rejects_shifted():
    np.random.seed(3)
    buckets, probs = _normal_buckets(10)
    assert probs == [0.1] * 10 and buckets[0][0] == -math.inf and buckets[-1][1] == math.inf
    pvalues = tu.verify_generator(lambda n: np.random.normal(size=n), buckets, probs,
                                  nsamples=50000)
    assert len(pvalues) == 5
    with pytest.raises(AssertionError, match="Generator test fails"):
        tu.verify_generator(lambda n: np.random.normal(0.1, size=n), buckets, probs,
                            nsamples=50000)


def test_chi_square_discrete_buckets():
    np.random.seed(4)
    p, obs, expected = tu.chi_square_check(lambda n: np.random.randint(0, 4, size=n),
                                           [0, 1, 2, 3], [0.25] * 4, nsamples=40000)
    assert obs.sum() == 40000 and list(expected) == [10000] * 4 and p > 1e-4
    p_bad, _, _ = tu.chi_square_check(lambda n: np.random.randint(0, 3, size=n),
                                      [0, 1, 2, 3], [0.25] * 4, nsamples=40000)
    assert p_bad < 1e-10


def test_mean_and_var_checks():
    np.random.seed(5)
    assert tu.mean_check(lambda n: np.random.normal(2.0, 1.5, size=n), 2.0, 1.5, 100000)
    assert not tu.mean_check(lambda n: np.random.normal(2.1, 1.5, size=n), 2.0, 1.5, 100000)
    assert tu.var_check(lambda n: np.random.normal(0, 2.0, size=n), 2.0, 100000)
    assert not tu.var_check(lambda n: np.random.normal(0, 2.2, size=n), 2.0, 100000)


def test_compare_optimizer_detects_learning_rate():
    tu.compare_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9),
                         mx.optimizer.SGD(learning_rate=0.1, momentum=0.9), (3, 4), np.float32)
    with pytest.raises(AssertionError):
        tu.compare_optimizer(mx.optimizer.SGD(learning_rate=0.1),
                             mx.optimizer.SGD(learning_rate=0.2), (3, 4), np.float32)
    with pytest.raises(mx.base.MXNetError, match="coo"):
        tu.compare_optimizer(mx.optimizer.SGD(), mx.optimizer.SGD(), (3, 4), np.float32,
                             g_stype="coo")


def _fc_tanh():
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    return mx.sym.Activation(net, act_type="tanh", name="act")


def test_check_consistency_float64_vs_float32():
    np.random.seed(6)
    specs = [{"ctx": mx.cpu(0), "data": (3, 5), "type_dict": {"data": np.float64}},
             {"ctx": mx.cpu(0), "data": (3, 5), "type_dict": {"data": np.float32}}]
    params = {"data": np.random.normal(size=(3, 5)), "fc_weight": np.random.normal(size=(4, 5)),
              "fc_bias": np.random.normal(size=4)}
    gt = tu.check_consistency(_fc_tanh(), specs, arg_params=dict(params))
    out = np.tanh(params["data"] @ params["fc_weight"].T + params["fc_bias"])
    np.testing.assert_allclose(gt["act_output"], out, rtol=1e-12)
    # backward with the output itself as head gradient: d/dW = ((1 - y^2) * y)^T x
    head = (1 - out ** 2) * out.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(gt["fc_weight"], head.T @ params["data"], rtol=1e-6)


def test_check_consistency_detects_different_graphs():
    specs = [{"ctx": mx.cpu(0), "data": (3, 5)}, {"ctx": mx.cpu(0), "data": (3, 5)}]
    other = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4,
                                                    name="fc"), act_type="sigmoid", name="act")
    with pytest.raises(AssertionError):
        tu.check_consistency([_fc_tanh(), other], specs)


def test_check_speed_returns_positive_seconds():
    seconds = tu.check_speed(_fc_tanh(), ctx=mx.cpu(), N=2, data=(2, 5))
    assert 0 < seconds < 10
    with pytest.raises(ValueError):
        tu.check_speed(_fc_tanh(), typ="backward", data=(2, 5))


def _write_idx(path, array):
    header = bytes((0, 0, 8, array.ndim)) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_get_mnist_from_local_files(tmp_path, monkeypatch):
    home = tmp_path / "home" / "datasets" / "mnist"
    home.mkdir(parents=True)
    rs = np.random.RandomState(0)
    images = {p: rs.randint(0, 256, size=(n, 28, 28)) for p, n in (("train", 20), ("t10k", 10))}
    labels = {p: rs.randint(0, 10, size=len(images[p])) for p in images}
    for p in images:
        _write_idx(home / ("%s-images-idx3-ubyte.gz" % p), images[p])
        _write_idx(home / ("%s-labels-idx1-ubyte.gz" % p), labels[p])
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    data = tu.get_mnist()
    assert data["train_data"].shape == (20, 1, 28, 28) and data["test_label"].dtype == np.int8
    np.testing.assert_allclose(data["train_data"][:, 0], images["train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data["test_label"], labels["t10k"])
    train, val = tu.get_mnist_iterator(5, (784,))
    assert os.path.isfile(tmp_path / "data" / "train-images-idx3-ubyte")
    batch = next(train)
    assert batch.data[0].shape == (5, 784)
    dummy = tu.DummyIter(val)
    assert next(dummy) is next(dummy)


def test_mnist_search_order_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MXC_SHARED", str(tmp_path / "shared"))
    dirs = tu.mnist_search_dirs()
    assert dirs[:3] == ["data", str(tmp_path / "home" / "datasets" / "mnist"),
                        str(tmp_path / "shared" / "data" / "mnist")]
    monkeypatch.setattr(tu, "mnist_search_dirs", lambda: [str(tmp_path / "a"),
                                                          str(tmp_path / "b")])
    with pytest.raises(FileNotFoundError) as err:
        tu.get_mnist()
    assert str(tmp_path / "a") in str(err.value) and str(tmp_path / "b") in str(err.value)
    assert "never downloads" in str(err.value)


def test_get_cifar10_copies_found_files_and_names_missing_one(tmp_path, monkeypatch):
    store = tmp_path / "home" / "datasets" / "cifar10"
    store.mkdir(parents=True)
    for name in ("train.rec", "test.rec", "train.lst"):
        (store / name).write_bytes(name.encode() * 3)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MXC_SHARED", str(tmp_path / "noshared"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tu, "dataset_search_dirs",
                        lambda local, name: [local, str(store)])
    with pytest.raises(FileNotFoundError, match="test.lst"):
        tu.get_cifar10()
    (store / "test.lst").write_bytes(b"0\t3\ta.png\n")
    assert tu.get_cifar10() == os.path.join("data", "cifar")
    assert (tmp_path / "data" / "cifar" / "train.rec").read_bytes() == b"train.rec" * 3
    assert (tmp_path / "data" / "cifar" / "test.lst").read_bytes() == b"0\t3\ta.png\n"


def test_base_names():
    from mxc.base import (NotImplementedForSymbol, _as_list, integer_types, mx_real_t,
                          numeric_types, py_str, string_types)
    assert mx_real_t is np.float32
    assert py_str(b"caf\xc3\xa9") == "caf\u00e9" and py_str("x") == "x"
    assert _as_list(3) == [3] and _as_list((1, 2)) == (1, 2)
    assert isinstance(np.float32(1), numeric_types) and isinstance("a", string_types)
    assert isinstance(np.int64(2), integer_types) and not isinstance(2.0, integer_types)
    err = NotImplementedForSymbol("asnumpy", "op", 1)
    assert isinstance(err, mx.base.MXNetError)
    assert 'Function asnumpy (namely operator "op")' in str(err) and "Symbol" in str(err)
    assert mx.attribute.AttrScope is not None


def test_util_env(monkeypatch):
    monkeypatch.delenv("MXC_TU_UTIL", raising=False)
    assert mx.util.getenv("MXC_TU_UTIL") is None
    mx.util.setenv("MXC_TU_UTIL", "1")
    assert mx.util.getenv("MXC_TU_UTIL") == "1"
    mx.util.setenv("MXC_TU_UTIL", None)
    assert "MXC_TU_UTIL" not in os.environ
    assert list(tu.list_gpus()) == list(range(mx.util.get_gpu_count()))


def test_assert_almost_equal_ignore_nan_skips_positions_nan_in_either_array():
    tu.assert_almost_equal_ignore_nan(np.array([1.0, np.nan, 3.0]), np.array([1.0, 5.0, np.nan]))
    tu.assert_almost_equal_ignore_nan(np.array([[np.nan, 2.0]]), np.array([7.0, 2.0]))
    with pytest.raises(AssertionError, match="worst at index"):
        tu.assert_almost_equal_ignore_nan(np.array([1.0, np.nan]), np.array([2.0, 0.0]))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_default_tolerance_tables_by_dtype():
    """MXNet's tables: float tolerances looser for narrower types, 0 for integers; numeric eps
    exact powers of two."""
    from mxc import test_utils as tu
    rt, at, eps = tu.default_rtols(), tu.default_atols(), tu.default_numeric_eps()
    assert rt[np.dtype(np.float16)] > rt[np.dtype(np.float32)] > rt[np.dtype(np.float64)]
    assert at[np.dtype(np.float16)] > at[np.dtype(np.float32)] > at[np.dtype(np.float64)]
    assert rt[np.dtype(np.int32)] == 0 and at[np.dtype(np.uint8)] == 0
    for dtype, step in eps.items():
        assert np.dtype(dtype).kind == "f"
        assert step == 2.0 ** round(np.log2(step))        # a power of two
        assert dtype.type(1) + dtype.type(step) != dtype.type(1)
    assert tu.effective_dtype(np.zeros(2, np.float32)) == np.float32


def test_checks_in_float16_store_float16_and_compute_in_float32():
    """check_symbolic_forward / check_numeric_gradient with dtype float16 (MXNet's operator
    tests sweep it): outputs come back as float16, equal to NumPy's float32 result rounded."""
    from mxc import test_utils as tu
    x = np.random.RandomState(0).uniform(-2, 2, (3, 4)).astype(np.float16)
    sym = mx.sym.tanh(mx.sym.Variable("x")) * 3
    want = (np.tanh(x.astype(np.float32)) * 3).astype(np.float16)
    out = tu.check_symbolic_forward(sym, {"x": x}, [want], rtol=1e-3, atol=1e-3,
                                    dtype=np.float16)
    assert out[0].dtype == np.float16
    np.testing.assert_allclose(out[0].astype(np.float32), want.astype(np.float32), rtol=2e-3)
    eps = tu.default_numeric_eps()[np.dtype(np.float16)]
    tu.check_numeric_gradient(sym, {"x": x}, numeric_eps=eps,
                              rtol=1e-1, atol=1e-1, dtype=np.float16)
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        tu.check_symbolic_forward(sym, {"x": x}, [want], dtype=np.int32)
