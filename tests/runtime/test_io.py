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
    assert (it.data[0][1].asnumpy()[:, 0] / 3).astype(int).tolist() == idx.tolist()
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
    assert (it.data[0][1].asnumpy()[:, 0] / 3).astype(int).tolist() == expected[idx].tolist()


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
        twin = io.NDArrayIter(current, current_label, bs, last_batch_handle=mode)
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
