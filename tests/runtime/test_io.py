"""Tests for mx.io: DataDesc, DataBatch and the iterators."""
import gzip
import struct

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

io = mx.io


def _rows(n, width=3):
    return np.arange(n * width, dtype=np.float64).reshape(n, width)


def _epoch(it):
    """List of (data rows as lists of first-column ids, label list, pad) for one epoch."""
    out = []
    for batch in it:
        out.append((batch.data[0].asnumpy().copy(),
                    batch.label[0].asnumpy().copy() if batch.label else None, batch.pad))
    return out


def _ids(epoch, width=3):
    return [((d[:, 0] / width).astype(int).tolist(), pad) for d, _, pad in epoch]


# ----------------------------------------------------------------- DataDesc / DataBatch

def test_datadesc():
    desc = io.DataDesc("data", (32, 16))
    assert repr(desc) == "DataDesc[data,(32, 16),<class 'numpy.float32'>,NCHW]"
    name, shape = desc
    assert (name, shape) == ("data", (32, 16)) and tuple(desc) == ("data", (32, 16))
    assert desc.dtype is np.float32 and desc.layout == "NCHW"
    assert io.DataDesc.get_batch_axis(None) == 0
    assert io.DataDesc.get_batch_axis("TNC") == 1
    descs = io.DataDesc.get_list([("a", (1, 2)), ("b", (3,))], [("a", np.int32), ("b", np.float64)])
    assert [d.dtype for d in descs] == [np.int32, np.float64]
    assert io.DataDesc.get_list([("a", (1,))], None)[0].dtype is np.float32


def test_databatch():
    batch = io.DataBatch([mx.nd.zeros((2, 2))], pad=0)
    assert str(batch) == "DataBatch: data shapes: [(2, 2)] label shapes: None"
    batch = io.DataBatch([mx.nd.zeros((2, 2))], [mx.nd.zeros((2,))], provide_data=[1])
    assert str(batch) == "DataBatch: data shapes: [(2, 2)] label shapes: [(2,)]"
    assert batch.provide_data == [1] and batch.provide_label is None
    with pytest.raises(AssertionError):
        io.DataBatch(mx.nd.zeros((2, 2)))


# ----------------------------------------------------------------- NDArrayIter

def test_provide_data_and_float32_conversion():
    x = np.random.rand(100, 16)
    y = np.arange(100)
    it = io.NDArrayIter(x, y, 32)
    assert repr(it.provide_data) == "[DataDesc[data,(32, 16),<class 'numpy.float32'>,NCHW]]"
    assert repr(it.provide_label) == \
        "[DataDesc[softmax_label,(32,),<class 'numpy.float32'>,NCHW]]"
    batch = it.next()
    assert batch.data[0].dtype is np.float32 and batch.label[0].dtype is np.float32
    assert batch.index is None and batch.pad == 0


def test_name_normalisation_and_sorting():
    a, b = np.zeros((4, 1)), np.ones((4, 2))
    it = io.NDArrayIter([a, b], None, 2)
    assert [d.name for d in it.provide_data] == ["_0_data", "_1_data"]
    assert it.provide_label == []
    it = io.NDArrayIter({"zeta": a, "alpha": b}, {"lbl": np.zeros(4)}, 2)
    assert [d.name for d in it.provide_data] == ["alpha", "zeta"]
    assert [n for n, _ in it.data] == ["alpha", "zeta"]
    batch = it.next()
    assert batch.data[0].shape == (2, 2) and batch.label[0].shape == (2,)
    assert io.NDArrayIter([a], data_name="x").provide_data[0].name == "x"
    nd_in = mx.nd.array([[1], [2]], dtype="int32")
    assert io.NDArrayIter(nd_in).provide_data[0].dtype is np.int32  # NDArrays kept as is
    with pytest.raises(TypeError):
        io.NDArrayIter("text")


def test_pad_mode_batches_and_epochs():
    it = io.NDArrayIter(_rows(10), np.arange(10), 4)
    for _ in range(2):
        epoch = _epoch(it)
        assert _ids(epoch) == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([8, 9, 0, 1], 2)]
        assert epoch[2][1].tolist() == [8, 9, 0, 1]
        it.reset()


def test_pad_larger_than_data_tiles():
    it = io.NDArrayIter(_rows(10), None, 25)
    epoch = _epoch(it)
    assert len(epoch) == 1 and epoch[0][2] == 15
    assert _ids(epoch)[0][0] == list(range(10)) * 2 + list(range(5))


def test_discard_mode():
    it = io.NDArrayIter(_rows(10), np.arange(10), 4, last_batch_handle="discard")
    assert _ids(_epoch(it)) == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)]
    it.reset()
    assert len(_epoch(it)) == 2


def test_roll_over_mode_and_pad_quirk():
    it = io.NDArrayIter(_rows(10), np.arange(10), 4, last_batch_handle="roll_over")
    assert _ids(_epoch(it)) == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)]
    it.reset()
    epoch2 = _epoch(it)
    assert _ids(epoch2) == [([8, 9, 0, 1], 2), ([2, 3, 4, 5], 0), ([6, 7, 8, 9], 0)]
    assert epoch2[0][1].tolist() == [8, 9, 0, 1]
    it.reset()
    assert _ids(_epoch(it)) == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)]
    it.hard_reset()
    assert it.cursor == -4 and it._cache_data is None


def test_shuffle_uses_numpy_global_rng_and_reorders_arrays():
    x = _rows(10)
    np.random.seed(3)
    it = io.NDArrayIter(x, np.arange(10), 4, shuffle=True)
    np.random.seed(3)
    idx = np.arange(10)
    np.random.shuffle(idx)
    # the arrays stay in place; the iterator's position -> row order holds the shuffle
    assert (it.data[0][1].asnumpy()[:, 0] / 3).astype(int).tolist() == list(range(10))
    assert it._order.tolist() == idx.tolist()
    epoch = _epoch(it)
    assert [r for rows, _ in _ids(epoch) for r in rows] == idx.tolist() + idx[:2].tolist()
    for data, label, _ in epoch:  # rows and labels stay paired
        np.testing.assert_array_equal(data[:, 0] / 3, label)
    # reset shuffles the already shuffled arrays again with the next draw
    expected = idx.copy()
    state = np.random.get_state()
    np.random.shuffle(idx)
    np.random.set_state(state)
    it.reset()
    assert it._order.tolist() == expected[idx].tolist()
    assert [r for rows, _ in _ids(_epoch(it)) for r in rows][:10] == expected[idx].tolist()


def test_batches_are_views_of_the_arrays():
    it = io.NDArrayIter(_rows(8), None, 4)
    batch = it.next()
    assert batch.data[0]._data.base is not None
    assert np.shares_memory(batch.data[0]._data, it.data[0][1]._data)


@pytest.mark.parametrize("n,bs,mode,shuffle", [
    (10, 4, "pad", False), (10, 4, "discard", False), (10, 4, "pad", True),
    (10, 4, "discard", True), (12, 4, "pad", False), (12, 4, "discard", True),
    (3, 7, "pad", False), (3, 7, "discard", False), (7, 1, "pad", True), (20, 3, "pad", True),
    (1, 1, "discard", False)])
def test_fast_epoch_plan_matches_next(n, bs, mode, shuffle):
    np.random.seed(n * 31 + bs)
    x = _rows(n)
    it = io.NDArrayIter(x, np.arange(n), bs, shuffle=shuffle, last_batch_handle=mode)
    for _ in range(2):
        rows, pads = it._fast_epoch_plan()
        assert rows.dtype == np.int64 and rows.shape == (len(pads), bs)
        current = it.data[0][1].asnumpy()
        current_label = it.label[0][1].asnumpy()
        order = np.arange(n) if it._order is None else it._order
        # the twin iterates over the arrays laid out in the shuffled order
        twin = io.NDArrayIter(current[order], current_label[order], bs, last_batch_handle=mode)
        epoch = _epoch(twin)
        assert len(epoch) == len(pads)
        for (data, label, pad), r, p in zip(epoch, rows, pads):
            np.testing.assert_array_equal(data, current[r])
            np.testing.assert_array_equal(label, current_label[r])
            assert pad == p
        # and the real iterator yields exactly those batches
        state = (it.cursor, it._cache_data)
        real = _epoch(it)
        assert [p for _, _, p in real] == pads
        for (data, _, _), r in zip(real, rows):
            np.testing.assert_array_equal(data, current[r])
        end_cursor = it.cursor
        # _fast_epoch_done leaves the same state as exhausting next()
        it.cursor, it._cache_data = state
        it._fast_epoch_done()
        assert it.cursor == end_cursor
        assert it._fast_epoch_plan() is None
        with pytest.raises(StopIteration):
            it.next()
        it.reset()


def test_fast_epoch_done_sets_cache_like_next():
    it = io.NDArrayIter(_rows(10), np.arange(10), 4, last_batch_handle="discard")
    it._fast_epoch_done()
    assert it.cursor == 8
    assert it._cache_data[0].asnumpy()[:, 0].tolist() == [24, 27]


def test_fast_epoch_plan_not_applicable():
    it = io.NDArrayIter(_rows(10), None, 4, last_batch_handle="roll_over")
    assert it._fast_epoch_plan() is None
    it = io.NDArrayIter(_rows(10), None, 4)
    it.next()
    assert it._fast_epoch_plan() is None
    it.reset()
    assert it._fast_epoch_plan() is not None


def test_bad_arguments():
    with pytest.raises(ValueError, match="last_batch_handle"):
        io.NDArrayIter(_rows(4), None, 2, last_batch_handle="wrap")
    with pytest.raises(ValueError, match="batch_size"):
        io.NDArrayIter(_rows(4), None, 0)


# ----------------------------------------------------------------- ResizeIter / PrefetchingIter

def test_resize_iter_restarts_inner_iterator():
    inner = io.NDArrayIter(_rows(10), np.arange(10), 4)
    it = io.ResizeIter(inner, 5)
    assert it.provide_data == inner.provide_data and it.batch_size == 4
    got = [(b.data[0].asnumpy()[:, 0] / 3).astype(int).tolist() for b in it]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [0, 1, 2, 3], [4, 5, 6, 7]]
    it.reset()
    assert len(list(it)) == 5
    shrunk = io.ResizeIter(io.NDArrayIter(_rows(10), None, 4), 1)
    assert len(list(shrunk)) == 1


def test_prefetching_iter_combines_and_renames():
    first = io.NDArrayIter({"data": _rows(10)}, np.arange(10), 4)
    second = io.NDArrayIter({"data": _rows(10) * 2}, np.arange(10), 4)
    it = io.PrefetchingIter([first, second], rename_data=[{"data": "d1"}, {"data": "d2"}])
    try:
        assert [d.name for d in it.provide_data] == ["d1", "d2"]
        assert [d.name for d in it.provide_label] == ["softmax_label", "softmax_label"]
        assert it.batch_size == 4
        for _ in range(2):
            batches = list(it)
            assert [b.pad for b in batches] == [0, 0, 2]
            for b in batches:
                assert len(b.data) == 2 and len(b.label) == 2
                np.testing.assert_array_equal(b.data[1].asnumpy(), 2 * b.data[0].asnumpy())
            it.reset()
    finally:
        it.close()


def test_prefetching_iter_length_mismatch():
    a = io.NDArrayIter(_rows(8), None, 4)
    b = io.NDArrayIter(_rows(4), None, 4)
    it = io.PrefetchingIter([a, b])
    try:
        it.next()
        with pytest.raises(MXNetError, match="different lengths"):
            it.next()
    finally:
        it.close()


# ----------------------------------------------------------------- CSVIter

def _write_csv(path, rows, fmt="%g"):
    path.write_text("\n".join(",".join(fmt % v for v in row) for row in rows) + "\n")
    return str(path)


def test_csviter_matches_ndarrayiter(tmp_path):
    x = np.arange(10 * 6, dtype=np.float32).reshape(10, 6) / 4
    y = np.arange(10, dtype=np.float32) % 3
    data_csv = _write_csv(tmp_path / "x.csv", x)
    label_csv = _write_csv(tmp_path / "y.csv", y[:, None])
    it = io.CSVIter(data_csv=data_csv, data_shape=(2, 3), label_csv=label_csv, batch_size=4)
    assert repr(it.provide_data) == "[DataDesc[data,(4, 2, 3),<class 'numpy.float32'>,NCHW]]"
    assert it.provide_label[0].shape == (4,)
    ref = io.NDArrayIter(x.reshape(10, 2, 3), y, 4)
    got = list(it)
    want = list(ref)
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.data[0].asnumpy(), w.data[0].asnumpy())
        np.testing.assert_array_equal(g.label[0].asnumpy(), w.label[0].asnumpy())
        assert g.pad == w.pad
    assert got[2].index.tolist() == [8, 9, 0, 1]


def test_csviter_round_batch_epochs_follow_the_cpp_loader(tmp_path):
    data_csv = _write_csv(tmp_path / "x.csv", np.arange(10)[:, None])
    it = io.CSVIter(data_csv=data_csv, data_shape=(1,), batch_size=4)

    def epoch():
        return [(b.data[0].asnumpy()[:, 0].astype(int).tolist(), b.pad) for b in it]

    first = [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([8, 9, 0, 1], 2)]
    assert epoch() == first
    it.reset()  # continues after the wrapped rows
    assert epoch() == [([2, 3, 4, 5], 0), ([6, 7, 8, 9], 0)]
    it.reset()
    assert epoch() == first


def test_csviter_no_round_batch_and_no_label(tmp_path):
    data_csv = _write_csv(tmp_path / "x.csv", np.arange(10)[:, None])
    it = io.CSVIter(data_csv=data_csv, data_shape=(1,), batch_size=4, round_batch=False)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    assert batches[2].data[0].asnumpy()[:2, 0].tolist() == [8, 9]
    assert all((b.label[0].asnumpy() == 0).all() for b in batches)
    it.reset()
    assert len(list(it)) == 3


def test_csviter_integer_dtype_and_label_shape(tmp_path):
    data_csv = _write_csv(tmp_path / "x.csv", np.arange(8).reshape(4, 2), "%d")
    label_csv = _write_csv(tmp_path / "y.csv", np.arange(8).reshape(4, 2), "%d")
    it = io.CSVIter(data_csv=data_csv, data_shape=(2,), label_csv=label_csv,
                    label_shape=(2,), batch_size=2, dtype="int32")
    batch = it.next()
    assert batch.data[0].dtype is np.int32 and batch.label[0].shape == (2, 2)
    assert it.provide_label[0].shape == (2, 2)


def test_csviter_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5\n")
    with pytest.raises(MXNetError, match=r"bad\.csv line 2 has 2 values"):
        io.CSVIter(data_csv=str(bad), data_shape=(3,), batch_size=1)
    bad.write_text("1,2,x\n")
    with pytest.raises(MXNetError, match=r"bad\.csv line 1: cannot parse"):
        io.CSVIter(data_csv=str(bad), data_shape=(3,), batch_size=1)
    with pytest.raises(MXNetError, match="nothere.csv"):
        io.CSVIter(data_csv=str(tmp_path / "nothere.csv"), data_shape=(3,), batch_size=1)
    good = _write_csv(tmp_path / "g.csv", np.zeros((3, 1)))
    short = _write_csv(tmp_path / "short.csv", np.zeros((2, 1)))
    with pytest.raises(MXNetError, match="short.csv has 2 rows"):
        io.CSVIter(data_csv=good, data_shape=(1,), label_csv=short, batch_size=1)
    with pytest.raises(MXNetError, match="bigger than batch size"):
        list(io.CSVIter(data_csv=good, data_shape=(1,), batch_size=8))


def test_csviter_on_letters_data(shared_dir, tmp_path):
    lines = (shared_dir / "data" / "letter-recognition.data").read_text().splitlines()[:50]
    feats = np.array([[float(v) for v in l.split(",")[1:]] for l in lines], np.float32)
    labels = np.array([ord(l[0]) - ord("A") for l in lines], np.float32)
    data_csv = _write_csv(tmp_path / "f.csv", feats, "%d")
    label_csv = _write_csv(tmp_path / "l.csv", labels[:, None], "%d")
    it = io.CSVIter(data_csv=data_csv, data_shape=(16,), label_csv=label_csv, batch_size=16)
    ref = io.NDArrayIter(feats, labels, 16)
    for g, w in zip(it, ref):
        np.testing.assert_array_equal(g.data[0].asnumpy(), w.data[0].asnumpy())
        np.testing.assert_array_equal(g.label[0].asnumpy(), w.label[0].asnumpy())
        assert g.pad == w.pad


# ----------------------------------------------------------------- MNISTIter

def _write_idx(path, array, magic, compress):
    payload = struct.pack(">I", magic) + struct.pack(">%dI" % array.ndim, *array.shape)
    payload += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return str(path)


@pytest.fixture
def small_mnist(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(10, 5, 4))
    labels = rng.randint(0, 10, size=10)
    return images, labels, tmp_path


@pytest.mark.parametrize("compress", [False, True])
def test_mnistiter_matches_ndarrayiter(small_mnist, compress):
    images, labels, tmp = small_mnist
    img = _write_idx(tmp / "img", images, 0x803, compress)
    lbl = _write_idx(tmp / "lbl", labels, 0x801, compress)
    it = io.MNISTIter(image=img, label=lbl, batch_size=4, shuffle=False, silent=True)
    assert it.provide_data[0].shape == (4, 1, 5, 4)
    assert it.provide_data[0].name == "data" and it.provide_label[0].name == "softmax_label"
    assert it.provide_label[0].shape == (4,)
    scaled = images.reshape(10, 1, 5, 4).astype(np.float32) * np.float32(1 / 256)
    ref = io.NDArrayIter(scaled, labels, 4, last_batch_handle="discard")
    for _ in range(2):
        got, want = list(it), list(ref)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.data[0].asnumpy(), w.data[0].asnumpy())
            np.testing.assert_array_equal(g.label[0].asnumpy(), w.label[0].asnumpy())
            assert g.pad == 0
        it.reset()
        ref.reset()


def test_mnistiter_flat_shuffle_and_parts(small_mnist):
    images, labels, tmp = small_mnist
    img = _write_idx(tmp / "img", images, 0x803, False)
    lbl = _write_idx(tmp / "lbl", labels, 0x801, False)
    flat = io.MNISTIter(image=img, label=lbl, batch_size=5, flat=True, shuffle=False, silent=True)
    assert flat.next().data[0].shape == (5, 20)
    shuffled = io.MNISTIter(image=img, label=lbl, batch_size=10, shuffle=True, seed=3,
                            silent=True)
    batch = shuffled.next()
    order = np.random.RandomState(3).permutation(10)
    np.testing.assert_array_equal(batch.label[0].asnumpy(), labels[order])
    np.testing.assert_array_equal(batch.data[0].asnumpy()[:, 0] * 256, images[order])
    part = io.MNISTIter(image=img, label=lbl, batch_size=1, shuffle=False, num_parts=3,
                        part_index=1, silent=True)
    got = [b.label[0].asnumpy()[0] for b in part]
    assert got == labels[3:6].tolist()  # int(10/3*1)=3 .. int(10/3*2)=6


def test_mnistiter_corrupt_files(small_mnist):
    images, labels, tmp = small_mnist
    img = _write_idx(tmp / "img", images, 0x803, False)
    lbl = _write_idx(tmp / "lbl", labels, 0x801, False)
    cut = tmp / "cut"
    cut.write_bytes((tmp / "img").read_bytes()[:100])
    with pytest.raises(MXNetError, match=r"cut is truncated"):
        io.MNISTIter(image=str(cut), label=lbl, silent=True)
    with pytest.raises(MXNetError, match=r"image file .*lbl has bad magic"):
        io.MNISTIter(image=lbl, label=img, silent=True)
    short = _write_idx(tmp / "short", labels[:5], 0x801, False)
    with pytest.raises(MXNetError, match="5 labels"):
        io.MNISTIter(image=img, label=short, silent=True)
    broken_gz = tmp / "broken.gz"
    broken_gz.write_bytes(gzip.compress((tmp / "img").read_bytes())[:50])
    with pytest.raises(MXNetError, match="broken.gz"):
        io.MNISTIter(image=str(broken_gz), label=lbl, silent=True)


def test_mnistiter_on_real_t10k(shared_dir):
    mnist = shared_dir / "data" / "mnist"
    it = io.MNISTIter(image=str(mnist / "t10k-images-idx3-ubyte.gz"),
                      label=str(mnist / "t10k-labels-idx1-ubyte.gz"), batch_size=1000,
                      shuffle=False, flat=True, silent=True)
    raw_img = gzip.decompress((mnist / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw_lbl = gzip.decompress((mnist / "t10k-labels-idx1-ubyte.gz").read_bytes())
    pixels = np.frombuffer(raw_img, np.uint8, offset=16).reshape(10000, 784)
    digits = np.frombuffer(raw_lbl, np.uint8, offset=8)
    batches = list(it)
    assert len(batches) == 10
    first = batches[0]
    assert first.data[0].shape == (1000, 784)
    np.testing.assert_array_equal(first.data[0].asnumpy(), pixels[:1000] / np.float32(256))
    np.testing.assert_array_equal(batches[-1].label[0].asnumpy(), digits[9000:])
    assert digits[:3].tolist() == [7, 2, 1]
