"""mx.io: data descriptions, batches and iterators (NDArrayIter, CSVIter, MNISTIter, ...)."""
import collections
import gzip
import logging
import os
import struct
import threading

import numpy as np

from .base import MXNetError
from .ndarray import NDArray, array, concat

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter",
           "PrefetchingIter", "CSVIter", "MNISTIter"]


class DataDesc(collections.namedtuple("DataDesc", ["name", "shape"])):
    """(name, shape) of an input, with extra attributes dtype and layout."""

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        desc = super().__new__(cls, name, shape)
        desc.dtype = dtype
        desc.layout = layout
        return desc

    def __repr__(self):
        return "DataDesc[%s,%s,%s,%s]" % (self.name, self.shape, self.dtype, self.layout)

    @staticmethod
    def get_batch_axis(layout):
        """Axis of the batch dimension for `layout` (0 when layout is None)."""
        if layout is None:
            return 0
        return layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from a list of (name, shape) and an optional list of (name, dtype)."""
        if types is not None:
            type_dict = dict(types)
            return [DataDesc(x[0], x[1], type_dict[x[0]]) for x in shapes]
        return [DataDesc(x[0], x[1]) for x in shapes]


class DataBatch:
    """One mini-batch: lists of data and label NDArrays, plus pad/index information."""

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None:
            assert isinstance(data, (list, tuple)), "Data must be list of NDArrays"
        if label is not None:
            assert isinstance(label, (list, tuple)), "Label must be list of NDArrays"
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self):
        data_shapes = [d.shape for d in self.data]
        label_shapes = [l.shape for l in self.label] if self.label else None
        return "%s: data shapes: %s label shapes: %s" % (type(self).__name__, data_shapes,
                                                          label_shapes)


class DataIter:
    """Base class of data iterators: `next()` yields DataBatch until StopIteration."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        """Rewind to the beginning of the data."""

    def next(self):
        """The next DataBatch; raises StopIteration at the end of the epoch."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        """Advance to the next batch; False at the end."""
        raise NotImplementedError

    def getdata(self):
        """Data NDArrays of the current batch."""
        raise NotImplementedError

    def getlabel(self):
        """Label NDArrays of the current batch."""
        raise NotImplementedError

    def getindex(self):
        """Example indices of the current batch (None when unknown)."""
        return None

    def getpad(self):
        """Number of filler examples at the end of the current batch."""
        raise NotImplementedError


# --------------------------------------------------------------------------- NDArrayIter


def _init_data(data, allow_empty, default_name):
    """Normalise iterator input into a name-sorted list of (name, NDArray)."""
    if data is None:
        if not allow_empty:
            raise ValueError("NDArrayIter: data must not be None")
        data = []
    if isinstance(data, (np.ndarray, NDArray)):
        data = [data]
    if isinstance(data, list):
        if not allow_empty and not data:
            raise ValueError("NDArrayIter: data must not be an empty list")
        if len(data) == 1:
            data = collections.OrderedDict([(default_name, data[0])])
        else:
            data = collections.OrderedDict(
                [("_%d_%s" % (i, default_name), d) for i, d in enumerate(data)])
    if not isinstance(data, dict):
        raise TypeError("Input must be NDArray, numpy.ndarray, a list of them or dict with "
                        "them as values (got %s)" % type(data).__name__)
    items = {}
    for key, value in data.items():
        if not isinstance(value, NDArray):
            try:
                value = array(value)
            except (TypeError, ValueError):
                raise TypeError("Invalid type '%s' for %s, should be NDArray or numpy.ndarray"
                                % (type(value), key)) from None
        items[key] = value
    return sorted(items.items())


def _take_rows(data, idx):
    """Arrays reordered by `idx` along axis 0 (converted to float32 like MXNet's shuffle)."""
    return [(k, array(v._data[idx], v.context)) for k, v in data]


class NDArrayIter(DataIter):
    """Iterate over in-memory arrays with MXNet's padding, discard and roll-over rules."""

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad",
                 data_name="data", label_name="softmax_label", layout="NCHW"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError("last_batch_handle must be 'pad', 'discard' or 'roll_over', got %r"
                             % (last_batch_handle,))
        if int(batch_size) <= 0:
            raise ValueError("batch_size must be positive, got %r" % (batch_size,))
        self.data = _init_data(data, allow_empty=False, default_name=data_name)
        self.label = _init_data(label, allow_empty=True, default_name=label_name)
        self.idx = np.arange(self.data[0][1].shape[0])
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.layout = layout
        self.batch_size = int(batch_size)
        self.cursor = -self.batch_size
        self.num_data = self.idx.shape[0]
        self.reset()
        self.data_list = [x[1] for x in self.data] + [x[1] for x in self.label]
        self.num_source = len(self.data_list)
        self._cache_data = None
        self._cache_label = None

    def _descs(self, sources):
        return [DataDesc(k, tuple([self.batch_size] + list(v.shape[1:])), v.dtype, self.layout)
                for k, v in sources]

    @property
    def provide_data(self):
        """DataDescs of the data arrays with the batch size as first dimension."""
        return self._descs(self.data)

    @property
    def provide_label(self):
        """DataDescs of the label arrays with the batch size as first dimension."""
        return self._descs(self.label)

    def hard_reset(self):
        """Rewind to the start, dropping any rolled-over examples."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self):
        """Rewind (reshuffling when shuffle=True); roll_over keeps the leftover examples."""
        if self.shuffle:
            self._shuffle_data()
        if self.last_batch_handle == "roll_over" and \
                self.num_data - self.batch_size < self.cursor < self.num_data:
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        label = self.getlabel()
        if data[0].shape[0] != self.batch_size:
            self._cache_data = data
            self._cache_label = label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _getdata(self, sources, start=None, end=None):
        start = 0 if start is None else start
        if end is None:
            end = sources[0][1].shape[0] if sources else 0
        return [arr[start:end] for _, arr in sources]

    @staticmethod
    def _concat(first, second):
        if not first or not second:
            return first if first else second
        return [concat(a, b, dim=0) for a, b in zip(first, second)]

    @staticmethod
    def _tile(data, repeats):
        return [NDArray(np.tile(d._data, [repeats] + [1] * (d.ndim - 1)), d.context)
                for d in data]

    def _batchify(self, sources):
        if self.cursor >= self.num_data:
            raise MXNetError("NDArrayIter needs reset (cursor %d past %d examples)"
                             % (self.cursor, self.num_data))
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            cache = self._cache_data if self._cache_data is not None else self._cache_label
            if cache is None:
                raise MXNetError("NDArrayIter: roll_over batch has no cached examples")
            second = self._getdata(sources, end=self.cursor + self.batch_size)
            if self._cache_data is not None:
                self._cache_data = None
            else:
                self._cache_label = None
            return self._concat(cache, second)
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            first = self._getdata(sources, start=self.cursor)
            if pad > self.num_data:
                second = self._tile(self._getdata(sources, end=self.num_data),
                                    pad // self.num_data)
                if pad % self.num_data:
                    second = self._concat(second,
                                          self._getdata(sources, end=pad % self.num_data))
            else:
                second = self._getdata(sources, end=pad)
            return self._concat(first, second)
        end = min(self.cursor + self.batch_size, self.num_data)
        return self._getdata(sources, self.cursor, end)

    def getdata(self):
        return self._batchify(self.data)

    def getlabel(self):
        return self._batchify(self.label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        np.random.shuffle(self.idx)
        self.data = _take_rows(self.data, self.idx)
        self.label = _take_rows(self.label, self.idx)

    # ---- whole-epoch access for callers that batch on their own
    def _fast_epoch_plan(self):
        """(rows, pads) of the batches next() would yield this epoch, or None.

        rows: int64 array (nbatch, batch_size) of row indices into the current arrays;
        pads: list of pad counts. None in roll_over mode or when not at an epoch start.
        """
        if self.last_batch_handle == "roll_over" or self.cursor != -self.batch_size:
            return None
        n, bs = self.num_data, self.batch_size
        if self.last_batch_handle == "pad":
            nbatch = (n + bs - 1) // bs
        else:
            nbatch = n // bs
        if n == 0:
            return np.zeros((0, bs), np.int64), []
        starts = np.arange(nbatch, dtype=np.int64) * bs
        rows = (starts[:, None] + np.arange(bs, dtype=np.int64)[None, :]) % n
        pads = [int(max(0, s + bs - n)) for s in starts]
        return rows, pads

    def _fast_epoch_done(self):
        """Leave the iterator as if next() had been called until StopIteration."""
        plan = self._fast_epoch_plan()
        if plan is None:
            raise MXNetError("_fast_epoch_done: iterator is not at the start of an epoch "
                             "or uses roll_over")
        nbatch = plan[0].shape[0]
        self.cursor = (nbatch - 1) * self.batch_size
        while True:
            try:
                self.next()
            except StopIteration:
                break
