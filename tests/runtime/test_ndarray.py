"""Tests for mx.nd: NDArray semantics and the MXNet binary file format."""
import json
import os
import pickle
import struct

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

nd = mx.nd

EXAMPLE_HEX = (  # reference section 3.3, 142 bytes
    "1201000000000000" "0000000000000000" "0200000000000000"
    "c9fa93f9" "00000000" "01000000" "0200000000000000" "0100000000000000" "00000000"
    "0000803f00000040"
    "c9fa93f9" "00000000" "02000000" "0100000000000000" "0100000000000000"
    "0100000000000000" "00000000" "0000003f"
    "0200000000000000" "0500000000000000" "6172673a77" "0500000000000000" "6175783a6d"
)

ALL_DTYPES = [np.float32, np.float64, np.float16, np.uint8, np.int32, np.int8, np.int64,
              np.bool_, np.int16, np.uint16, np.uint32, np.uint64]


# ----------------------------------------------------------------- NDArray basics

def test_wraps_without_copy_and_writes_in_place():
    base = np.zeros((4, 3), np.float32)
    arr = nd.NDArray(base)
    assert arr._data is base
    arr[:] = 2.5
    assert (base == 2.5).all()
    arr[1:3] = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(base[1:3], np.arange(6).reshape(2, 3))
    arr[0] = nd.array([7, 8, 9])
    np.testing.assert_array_equal(base[0], [7, 8, 9])
    assert arr._data is base
    arr += 1
    assert arr._data is base and base[0, 0] == 8


def test_getitem_is_a_view():
    arr = nd.array(np.arange(12).reshape(4, 3))
    row = arr[1]
    assert row.shape == (3,)
    row[:] = -1
    np.testing.assert_array_equal(arr.asnumpy()[1], [-1, -1, -1])
    part = arr[2:4]
    assert part.shape == (2, 3)
    part[:] = 0
    assert arr.asnumpy()[2:].sum() == 0
    vec = nd.array([1, 2, 3])
    assert vec[1].shape == (1,) and vec[-1].asscalar() == 3
    with pytest.raises(IndexError):
        vec[3]


def test_properties():
    arr = nd.zeros((2, 3))
    assert arr.shape == (2, 3) and arr.size == 6 and arr.ndim == 2
    assert arr.dtype is np.float32
    assert arr.context == mx.cpu(0) and arr.ctx == mx.cpu(0)
    assert arr.stype == "default"
    assert len(arr) == 2
    assert nd.zeros(5, dtype="int32").dtype is np.int32
    assert nd.ones((2,), ctx=mx.gpu(0)).context == mx.gpu(0)
    with mx.gpu(1):
        assert nd.empty((1,)).context == mx.gpu(1)


def test_array_defaults_to_float32():
    assert nd.array(np.arange(3, dtype=np.float64)).dtype is np.float32
    assert nd.array([1, 2]).dtype is np.float32
    assert nd.array([1, 2], dtype=np.int64).dtype is np.int64
    src = nd.array([1, 2], dtype="int32")
    copy = nd.array(src)
    assert copy.dtype is np.int32
    copy[:] = 0
    assert src.asnumpy().tolist() == [1, 2]
    base = np.ones(3, np.float32)
    made = nd.array(base)
    made[:] = 0
    assert base.sum() == 3  # array() copies


def test_repr_matches_mxnet():
    arr = nd.array([[1, 2, 3], [4, 5, 6]])
    assert repr(arr) == "\n[[1. 2. 3.]\n [4. 5. 6.]]\n<NDArray 2x3 @cpu(0)>"
    assert repr(nd.array([1.5])) == "\n[1.5]\n<NDArray 1 @cpu(0)>"


def test_conversions():
    arr = nd.array([[1, 2], [3, 4]])
    host = arr.asnumpy()
    host[0, 0] = 99
    assert arr.asnumpy()[0, 0] == 1
    assert nd.array([5]).asscalar() == 5
    with pytest.raises(ValueError):
        arr.asscalar()
    assert np.asarray(arr).shape == (2, 2)
    ints = arr.astype("int32")
    assert ints.dtype is np.int32
    assert arr.astype(np.float32, copy=False) is arr
    assert arr.astype(np.float32) is not arr
    assert arr.reshape((4,)).shape == (4,)
    assert arr.reshape(1, 4).shape == (1, 4)
    assert arr.reshape(shape=(0, -1)).shape == (2, 2)
    view = arr.reshape(4)
    view[:] = 0
    assert arr.asnumpy().sum() == 0  # reshape shares memory
    with pytest.raises(ValueError, match="reshape"):
        arr.reshape(3)


def test_copy_copyto_as_in_context():
    arr = nd.array([1, 2, 3])
    dup = arr.copy()
    dup[:] = 0
    assert arr.asnumpy().sum() == 6
    target = nd.zeros((3,))
    assert arr.copyto(target) is target
    assert target.asnumpy().tolist() == [1, 2, 3]
    moved = arr.copyto(mx.gpu(0))
    assert moved.context == mx.gpu(0) and moved.asnumpy().tolist() == [1, 2, 3]
    assert arr.as_in_context(mx.cpu()) is arr
    assert arr.as_in_context(mx.gpu(0)).context == mx.gpu(0)
    with pytest.raises(ValueError, match="shape"):
        arr.copyto(nd.zeros((2,)))


def test_arithmetic_against_numpy():
    a_np = np.array([[1.0, -2.0], [3.0, 4.5]], np.float32)
    b_np = np.array([[0.5, 2.0], [-1.0, 3.0]], np.float32)
    a, b = nd.array(a_np), nd.array(b_np)
    cases = [(a + b, a_np + b_np), (a - b, a_np - b_np), (a * b, a_np * b_np),
             (a / b, a_np / b_np), (a + 1, a_np + 1), (2 - a, 2 - a_np), (a * 3, a_np * 3),
             (1 / b, 1 / b_np), (a ** 2, a_np ** 2), (2 ** b, 2 ** b_np), (-a, -a_np),
             (3 * a, 3 * a_np), (a / 2, a_np / 2)]
    for got, want in cases:
        assert isinstance(got, nd.NDArray)
        assert got.dtype is np.float32
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    c = a.copy()
    c += b
    c -= 1
    c *= 2
    c /= 4
    np.testing.assert_allclose(c.asnumpy(), ((a_np + b_np) - 1) * 2 / 4, rtol=1e-6)
    row = nd.array([10, 20])
    np.testing.assert_allclose((a + row).asnumpy(), a_np + np.array([10, 20]))


def test_integer_division_truncates_like_mxnet():
    arr = nd.array([7, -7], dtype="int32")
    assert (arr / 2).asnumpy().tolist() == [3, -3]
    assert (arr / 2).dtype is np.int32


def test_comparisons_return_numeric_arrays():
    a = nd.array([1, 2, 3])
    b = nd.array([3, 2, 1])
    assert (a == b).asnumpy().tolist() == [0, 1, 0]
    assert (a != b).asnumpy().tolist() == [1, 0, 1]
    assert (a < b).asnumpy().tolist() == [1, 0, 0]
    assert (a <= 2).asnumpy().tolist() == [1, 1, 0]
    assert (a > 1).asnumpy().tolist() == [0, 1, 1]
    assert (a >= b).dtype is np.float32


def test_scalar_operators_on_both_sides_modulo_and_abs():
    a_np = np.array([[1.5, -2.0], [3.0, 4.5]], np.float32)
    a = nd.array(a_np)
    cases = [(a % 2, a_np % 2), (7 % nd.array([2, 3, 4]), 7 % np.array([2, 3, 4], np.float32)),
             (a % nd.array([[2, 3]]), a_np % np.array([[2, 3]], np.float32)),
             (2 ** a, 2 ** a_np), (a ** nd.full((2, 2), 2), a_np ** 2), (abs(a), np.abs(a_np)),
             (1 - a, 1 - a_np), (3 / a, 3 / a_np), (0.5 + a, 0.5 + a_np)]
    for got, want in cases:
        assert got.dtype is np.float32
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    b = nd.array([1, 5, 2])
    assert (2 < b).asnumpy().tolist() == [0, 1, 0]       # reflected: b > 2
    assert (2 >= b).asnumpy().tolist() == [1, 0, 1]
    assert (nd.array([1, 2]) == None) is False  # noqa: E711
    with pytest.raises(TypeError):
        b < "x"  # noqa: B015
    c = nd.array([5.0, 7.0])
    c %= 3
    c **= 2
    assert c.asnumpy().tolist() == [4, 1]


def test_in_place_ops_write_through_views():
    arr = nd.zeros((4, 3))
    rows = arr[1:3]
    rows += 2
    rows *= nd.array([1, 2, 3])
    rows -= 1
    rows /= 2
    want = np.zeros((4, 3), np.float32)
    want[1:3] = (2 * np.array([1, 2, 3]) - 1) / 2
    np.testing.assert_allclose(arr.asnumpy(), want)


def test_slicing_integer_indexing_and_assignment():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    arr = nd.array(base)
    np.testing.assert_array_equal(arr[1:3].asnumpy(), base[1:3])
    np.testing.assert_array_equal(arr[-1].asnumpy(), base[-1])
    np.testing.assert_array_equal(arr[2, 3].asnumpy(), [base[2, 3]])
    np.testing.assert_array_equal(arr[::2].asnumpy(), base[::2])
    np.testing.assert_array_equal(arr[:, 1:5:2].asnumpy(), base[:, 1:5:2])
    np.testing.assert_array_equal(arr[nd.array([3, 0])].asnumpy(), base[[3, 0]])
    assert nd.array([4, 5, 6])[1].shape == (1,)          # 1-D integer index keeps shape (1,)
    arr[1:3] = 0.5
    base[1:3] = 0.5
    arr[0] = nd.array(np.arange(6) * 10)
    base[0] = np.arange(6) * 10
    arr[::3, ::2] = nd.array([[-1, -2, -3], [-4, -5, -6]])
    base[::3, ::2] = [[-1, -2, -3], [-4, -5, -6]]
    arr[nd.array([2])] = 9
    base[[2]] = 9
    np.testing.assert_array_equal(arr.asnumpy(), base)
    arr[:] = 0
    assert arr.asnumpy().sum() == 0
    with pytest.raises(ValueError, match="cannot assign"):
        arr[1:3] = nd.ones((3, 6))
    with pytest.raises(IndexError):
        nd.array([1, 2])[5]


def test_stack_and_elementwise_functions():
    a, b = nd.array([[1, 2]]), nd.array([[3, 0]])
    np.testing.assert_array_equal(nd.stack(a, b).asnumpy(), np.stack([[[1, 2]], [[3, 0]]]))
    np.testing.assert_array_equal(nd.stack(a, b, axis=-1).asnumpy(),
                                  np.stack([[[1, 2]], [[3, 0]]], axis=-1))
    with pytest.raises(MXNetError, match="array 1 has shape"):
        nd.stack(a, nd.ones((2, 2)))
    assert nd.maximum(a, b).asnumpy().tolist() == [[3, 2]]
    assert nd.minimum(a, 1.5).asnumpy().tolist() == [[1, 1.5]]
    assert nd.maximum(2, b).asnumpy().tolist() == [[3, 2]]
    assert nd.power(2, a).asnumpy().tolist() == [[2, 4]]
    assert nd.subtract(5, a).asnumpy().tolist() == [[4, 3]]
    assert nd.add(a, b).asnumpy().tolist() == nd.multiply(nd.divide(a + b, 2), 2).asnumpy().tolist()
    assert nd.modulo(b, 2).asnumpy().tolist() == [[1, 0]]
    assert nd.equal(a, b).asnumpy().tolist() == [[0, 0]]
    assert nd.lesser(1.5, a).asnumpy().tolist() == [[0, 1]]
    assert nd.greater_equal(a, nd.array([[1, 3]])).asnumpy().tolist() == [[1, 0]]
    assert nd.not_equal(a, 2).asnumpy().tolist() == [[1, 0]]


def test_operator_methods_and_conversions():
    x = nd.array([[-1.0, 4.0], [9.0, 0.25]])
    np.testing.assert_allclose(x.abs().sqrt().asnumpy(), np.sqrt(np.abs(x.asnumpy())))
    assert x.transpose().shape == (2, 2) and x.flatten().shape == (2, 2)
    assert x.expand_dims(axis=0).shape == (1, 2, 2)
    assert x.astype("int32").dtype is np.int32 and x.astype(np.float64).dtype is np.float64
    assert x.astype(np.float32, copy=False) is x
    assert x.as_in_context(mx.cpu()) is x
    with pytest.raises(AttributeError):
        x.no_such_operator()


def test_creation_functions():
    assert nd.zeros((2, 2)).asnumpy().sum() == 0
    assert nd.ones(3).asnumpy().tolist() == [1, 1, 1]
    full = nd.full((2,), 7)
    assert full.asnumpy().tolist() == [7, 7] and full.dtype is np.float32
    assert nd.empty((3, 4)).shape == (3, 4)
    assert nd.arange(3).asnumpy().tolist() == [0, 1, 2]
    assert nd.arange(1, 7, 2).asnumpy().tolist() == [1, 3, 5]
    assert nd.arange(0, 2, repeat=2).asnumpy().tolist() == [0, 0, 1, 1]
    assert nd.arange(3).dtype is np.float32


def test_concat_and_concatenate():
    a = nd.array([[1, 2], [3, 4]])
    b = nd.array([[5], [6]])
    assert nd.concat(a, b).asnumpy().tolist() == [[1, 2, 5], [3, 4, 6]]
    assert nd.concat(a, a, dim=0).shape == (4, 2)
    joined = nd.concatenate([a, nd.array([[9, 9]])])
    assert joined.asnumpy().tolist() == [[1, 2], [3, 4], [9, 9]]
    assert nd.concatenate([a], always_copy=False) is a
    assert nd.concatenate([a]) is not a
    with pytest.raises(ValueError, match="array 1"):
        nd.concatenate([a, b])
    nd.waitall()


# ----------------------------------------------------------------- file format

def test_reference_worked_example_bytes(tmp_path):
    path = tmp_path / "ex.params"
    nd.save(str(path), {"arg:w": nd.array([1.0, 2.0]), "aux:m": nd.array([[0.5]])})
    raw = path.read_bytes()
    assert len(raw) == 142
    assert raw == bytes.fromhex(EXAMPLE_HEX)
    loaded = nd.load(str(path))
    assert list(loaded) == ["arg:w", "aux:m"]
    assert loaded["arg:w"].asnumpy().tolist() == [1.0, 2.0]
    assert loaded["aux:m"].shape == (1, 1)


def test_list_save_of_int32_tail(tmp_path):
    path = tmp_path / "l.nd"
    nd.save(path, [nd.array([1, 2], dtype="int32")])
    raw = path.read_bytes()
    assert raw.endswith(bytes.fromhex("04000000" "0100000002000000" "0000000000000000"))
    loaded = nd.load(path)
    assert isinstance(loaded, list) and loaded[0].dtype is np.int32


def test_single_ndarray_saves_as_list(tmp_path):
    path = tmp_path / "one.nd"
    nd.save(path, nd.ones((2, 3)))
    loaded = nd.load(path)
    assert isinstance(loaded, list) and len(loaded) == 1 and loaded[0].shape == (2, 3)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_every_dtype(tmp_path, dtype):
    rng = np.random.RandomState(0)
    values = (rng.rand(3, 4, 2) * 100).astype(dtype)
    path = tmp_path / "rt.params"
    nd.save(path, {"x": nd.array(values, dtype=dtype), "empty": nd.zeros((0, 3), dtype=dtype)})
    back = nd.load(path)
    assert back["x"].dtype is np.dtype(dtype).type
    np.testing.assert_array_equal(back["x"].asnumpy(), values)
    assert back["empty"].shape == (0, 3)
    expected_size = 8 * 3 + sum(4 + 4 + 4 + 8 * nd_ + 8 + 4 + nb for nd_, nb in
                                [(3, values.nbytes), (2, 0)]) + 8 + (8 + 1) + (8 + 5)
    assert os.path.getsize(path) == expected_size


def test_context_is_recorded(tmp_path):
    path = tmp_path / "ctx.nd"
    nd.save(path, [nd.ones((1,), ctx=mx.cpu_pinned(0))])
    raw = path.read_bytes()
    # header 24 + magic/stype/ndim 12 + dim 8 -> dev_type, dev_id
    assert struct.unpack_from("<ii", raw, 44) == (3, 0)
    assert nd.load(path)[0].context == mx.cpu_pinned(0)


def test_gpu_record_loads_on_cpu_without_gpus(tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "_visible_gpus", lambda: 0)
    path = tmp_path / "g.nd"
    nd.save(path, [nd.ones((2,), ctx=mx.gpu(0))])
    assert struct.unpack_from("<i", path.read_bytes(), 44)[0] == 2
    assert nd.load(path)[0].context == mx.cpu(0)


def test_save_rejects_bad_data(tmp_path):
    path = tmp_path / "bad.nd"
    with pytest.raises(TypeError):
        nd.save(path, {"a": np.ones(2)})
    with pytest.raises(TypeError):
        nd.save(path, {1: nd.ones(2)})
    with pytest.raises(TypeError):
        nd.save(path, [nd.ones(2), 3])
    with pytest.raises(ValueError):
        nd.save(path, "nonsense")
    assert not path.exists()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "atomic.params"
    nd.save(path, {"a": nd.ones(2)})
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(nd.os, "replace", broken_replace)
    with pytest.raises(OSError):
        nd.save(path, {"a": nd.zeros(5)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["atomic.params"]


def test_load_mxnet_checkpoint(shared_dir):
    manifest = json.loads((shared_dir / "mxnet" / "manifest.json").read_text())
    for net, info in manifest["nets"].items():
        fname = shared_dir / "mxnet" / ("%s-%04d.params" % (info["prefix"], info["epoch"]))
        params = nd.load(str(fname))
        assert sorted(params) == sorted(info["params_keys"])
        for key, (shape, dtype) in info["params_keys"].items():
            assert params[key].shape == tuple(shape), (net, key)
            assert params[key].dtype is np.dtype(dtype).type
        # writing the loaded dict back reproduces MXNet's file byte for byte
        assert nd._serialize(params) == fname.read_bytes(), net


def test_load_frombuffer_matches_load():
    data = nd.load_frombuffer(bytes.fromhex(EXAMPLE_HEX))
    assert data["aux:m"].asnumpy().tolist() == [[0.5]]
    with pytest.raises(MXNetError, match="truncated"):
        nd.load_frombuffer(bytes.fromhex(EXAMPLE_HEX)[:100])


def _v1_record(values):
    values = np.asarray(values, np.float32)
    return (struct.pack("<Ii", 0xF993FAC8, values.ndim)
            + struct.pack("<%dq" % values.ndim, *values.shape)
            + struct.pack("<iii", 1, 0, 0) + values.tobytes())


def _legacy_record(values):
    values = np.asarray(values, np.float64)
    return (struct.pack("<I", values.ndim) + struct.pack("<%dI" % values.ndim, *values.shape)
            + struct.pack("<iii", 1, 0, 1) + values.tobytes())


def _file(records, names=()):
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    for name in names:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


def test_load_v1_and_legacy_records(tmp_path):
    v1 = [[1, 2, 3], [4, 5, 6]]
    legacy = [0.25, -8.0]
    path = tmp_path / "old.params"
    path.write_bytes(_file([_v1_record(v1), _legacy_record(legacy)], ["arg:a", "aux:b"]))
    loaded = nd.load(path)
    assert loaded["arg:a"].dtype is np.float32
    assert loaded["arg:a"].asnumpy().tolist() == v1
    assert loaded["aux:b"].dtype is np.float64
    assert loaded["aux:b"].asnumpy().tolist() == legacy


def test_truncated_file_errors_name_file_and_record(tmp_path):
    raw = bytes.fromhex(EXAMPLE_HEX)
    path = tmp_path / "cut.params"
    path.write_bytes(raw[:0x50])  # inside record 1's shape
    with pytest.raises(MXNetError) as info:
        nd.load(path)
    assert "cut.params" in str(info.value) and "record 1" in str(info.value)
    assert "truncated" in str(info.value)
    path.write_bytes(raw[:0x3c])  # inside record 0's data
    with pytest.raises(MXNetError, match=r"record 0.*truncated"):
        nd.load(path)
    path.write_bytes(raw[:130])  # inside the names
    with pytest.raises(MXNetError, match="name 1"):
        nd.load(path)
    path.write_bytes(raw[:10])
    with pytest.raises(MXNetError, match="header"):
        nd.load(path)


def test_corrupt_files_error_clearly(tmp_path):
    raw = bytearray(bytes.fromhex(EXAMPLE_HEX))
    path = tmp_path / "bad.params"
    path.write_bytes(b"\x00" * 8 + bytes(raw[8:]))
    with pytest.raises(MXNetError, match=r"bad\.params.*bad magic"):
        nd.load(path)
    flagged = bytearray(raw)
    flagged[0x34] = 42  # dtype flag of record 0
    path.write_bytes(bytes(flagged))
    with pytest.raises(MXNetError, match="unknown dtype flag 42"):
        nd.load(path)
    path.write_bytes(bytes(raw) + b"junk")
    with pytest.raises(MXNetError, match="trailing"):
        nd.load(path)
    with pytest.raises(MXNetError, match="missing.params"):
        nd.load(tmp_path / "missing.params")


def test_record_helpers_and_pickle():
    arr = nd.array([[1, 2], [3, 4]], dtype="float64")
    rec = nd._record_bytes(arr)
    assert len(rec) == 4 + 4 + 4 + 8 * 2 + 8 + 4 + arr.size * 8
    back, end = nd._read_record(b"xx" + rec + b"yy", 2)
    assert end == 2 + len(rec)
    np.testing.assert_array_equal(back.asnumpy(), arr.asnumpy())
    assert arr.__getstate__() == {"handle": rec}
    clone = pickle.loads(pickle.dumps(arr))
    assert clone.dtype is np.float64 and clone.asnumpy().tolist() == [[1, 2], [3, 4]]
    with pytest.raises(MXNetError):
        nd._read_record(rec[:-1], 0)


def test_unpickle_mxnet_states_file(shared_dir):
    mxdir = shared_dir / "mxnet"
    states = nd._unpickle((mxdir / "lenet-0001.states").read_bytes())
    params = nd.load(str(mxdir / "lenet-0001.params"))
    assert isinstance(states, dict) and sorted(states) == list(range(len(states)))
    shapes = sorted(tuple(v.shape) for k, v in params.items() if k.startswith("arg:"))
    flat = [s for s in states.values() if s is not None]
    arrays = [a for s in flat for a in (s if isinstance(s, tuple) else (s,))]
    assert arrays and all(isinstance(a, nd.NDArray) for a in arrays)
    assert sorted({tuple(a.shape) for a in arrays}) == sorted(set(shapes))
    assert all(np.isfinite(a.asnumpy()).all() for a in arrays)
    # our own pickles round-trip through the same path
    assert nd._unpickle(pickle.dumps({0: nd.ones((2,))}))[0].asnumpy().tolist() == [1, 1]
    with pytest.raises(MXNetError):
        nd._unpickle(b"not a pickle")


def test_array_refuses_complex_object_and_string_data():
    import pytest
    for bad in (np.array([1 + 2j]), np.array(["a"]), np.array([object()], dtype=object)):
        with pytest.raises(mx.base.MXNetError, match="not supported"):
            mx.nd.array(bad)
    with pytest.raises(mx.base.MXNetError, match="complex"):
        mx.nd.array([1.0], dtype=np.complex64)
    assert mx.nd.array(np.array([True, False])).asnumpy().tolist() == [1.0, 0.0]
    assert mx.nd.array(np.arange(3, dtype=np.int64), dtype="int32").dtype == np.int32


def test_numpy_reductions_of_an_ndarray_give_ndarrays_as_mxnet():
    x = np.array([[0.3, 0.7], [0.0, 1.0], [0.8, 0.2]], dtype=np.float32)
    a = mx.nd.array(x)
    for fn in (np.sum, np.max, np.min, np.argmax):
        got = fn(a, axis=1)
        assert isinstance(got, mx.nd.NDArray)
        np.testing.assert_allclose(got.asnumpy(), fn(x, axis=1))
    out = mx.nd.zeros((2,))
    assert a.argmax(axis=0, out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), [2, 1])
    with pytest.raises(mx.base.MXNetError, match="out must be"):
        a.sum(axis=0, out=mx.nd.zeros((3,)))
