"""mx.io: data descriptions, batches and iterators (NDArrayIter, CSVIter, MNISTIter, ...)."""
import collections
import gzip
import logging
import struct
import threading

import numpy as np

from .base import MXNetError
from .ndarray import NDArray, array, concat

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter", "LibSVMIter",
           "PrefetchingIter", "CSVIter", "MNISTIter"]

# A named logger: a message here before the user's logging.basicConfig must not configure the
# root logger (the root-level logging.info would, and the user's own set-up would be ignored).
_LOG = logging.getLogger(__name__)


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
        """Label NDArrays of the current batch (None here: an iterator without labels)."""
        return None

    def getindex(self):
        """Example indices of the current batch (None when unknown)."""
        return None

    def getpad(self):
        """Number of filler examples at the end of the current batch (None here, as
        MXNet's base class: no padding)."""
        return None


# --------------------------------------------------------------------------- NDArrayIter


def check_real_data(what, value):
    """MXNetError unless `value` holds real numbers: float, integer and bool data are cast to
    the bound dtype as MXNet does; complex, object, string or time data is refused."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError) as err:
            raise MXNetError("%s: cannot read the values as an array: %s" % (what, err)) \
                from None
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise MXNetError("%s has dtype %s: only real numbers (float, int, bool) can be fed to "
                         "the network" % (what, dtype))


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
        check_real_data("NDArrayIter: %s '%s'" % (default_name, key), value)
        if not isinstance(value, NDArray):
            try:
                value = array(value)
            except (TypeError, ValueError):
                raise TypeError("Invalid type '%s' for %s, should be NDArray or numpy.ndarray"
                                % (type(value), key)) from None
        items[key] = value
    return sorted(items.items())


def _check_rows(data, label):
    """Every array has the same number of rows, at least one (names the culprit)."""
    arrays = data + label
    for name, arr in arrays:
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise MXNetError("NDArrayIter: '%s' has no rows (shape %s); an iterator needs at "
                             "least one example" % (name, arr.shape))
    first_name, first = arrays[0]
    for name, arr in arrays[1:]:
        if arr.shape[0] != first.shape[0]:
            raise MXNetError("NDArrayIter: '%s' has %d rows but '%s' has %d"
                             % (name, arr.shape[0], first_name, first.shape[0]))


def _as_float32(data):
    """The arrays as float32 (MXNet's shuffle converts them); float32 ones are kept as they are."""
    return [(k, v if v.dtype == np.float32 else array(v._data, v.context)) for k, v in data]


def _take_rows(arr, rows):
    """Rows `rows` of an array, a sparse one keeping its storage type (csr batches)."""
    taken = NDArray(arr._data[rows], arr.context)
    if arr.stype == "default":
        return taken
    from .sparse import cast_storage
    return cast_storage(taken, arr.stype)


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
        _check_rows(self.data, self.label)
        self.idx = np.arange(self.data[0][1].shape[0])
        self.shuffle = shuffle
        # position -> row of the arrays; None while unshuffled. Shuffling reorders this
        # index instead of the data, so batches are gathered through it.
        self._order = None
        if shuffle:
            self.data = _as_float32(self.data)
            self.label = _as_float32(self.label)
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
        if self._order is None:
            return [arr[start:end] for _, arr in sources]
        rows = self._order[start:end]
        return [_take_rows(arr, rows) for _, arr in sources]

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
        # MXNet applies the shuffled index to the already shuffled arrays: compose the orders
        np.random.shuffle(self.idx)
        self._order = self.idx.copy() if self._order is None else self._order[self.idx]

    # ---- whole-epoch access for callers that batch on their own
    def _fast_epoch_plan(self):
        """(rows, pads) of the batches next() would yield this epoch, or None.

        rows: int64 array (nbatch, batch_size) of row indices into the arrays `self.data`
        and `self.label` (shuffling reorders rows, not the arrays);
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
        if self._order is not None:
            rows = self._order[rows].astype(np.int64, copy=False)
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


# --------------------------------------------------------------------------- wrappers


class _CurrentBatchIter(DataIter):
    """An iterator whose batch parts come from the DataBatch it holds in current_batch."""

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class ResizeIter(_CurrentBatchIter):
    """Yield exactly `size` batches per epoch from `data_iter`, restarting it as needed."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__()
        self.data_iter = data_iter
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.batch_size = data_iter.batch_size
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True



class PrefetchingIter(_CurrentBatchIter):
    """Fetch the next batch of each wrapped iterator in a background thread and combine them."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, list):
            iters = [iters]
        if not iters:
            raise ValueError("PrefetchingIter needs at least one iterator")
        self.n_iter = len(iters)
        self.iters = iters
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self.data_ready = [threading.Event() for _ in range(self.n_iter)]
        self.data_taken = [threading.Event() for _ in range(self.n_iter)]
        for event in self.data_taken:
            event.set()
        self.started = True
        self.current_batch = None
        self.next_batch = [None] * self.n_iter
        self._errors = [None] * self.n_iter
        self.prefetch_threads = [threading.Thread(target=self._prefetch, args=(i,), daemon=True)
                                 for i in range(self.n_iter)]
        for thread in self.prefetch_threads:
            thread.start()

    def _prefetch(self, i):
        while True:
            self.data_taken[i].wait()
            if not self.started:
                break
            try:
                self.next_batch[i] = self.iters[i].next()
                self._errors[i] = None
            except StopIteration:
                self.next_batch[i] = None
            except Exception as err:  # handed to the consumer thread
                self.next_batch[i] = None
                self._errors[i] = err
            self.data_taken[i].clear()
            self.data_ready[i].set()

    def close(self):
        """Stop the prefetch threads."""
        if not getattr(self, "started", False):
            return
        self.started = False
        for event in self.data_taken:
            event.set()
        for thread in self.prefetch_threads:
            thread.join()

    def __del__(self):
        self.close()

    @staticmethod
    def _renamed(renames, iters, attr):
        if renames is None:
            return sum([getattr(it, attr) for it in iters], [])
        return sum([[DataDesc(r[x.name], x.shape, x.dtype) if isinstance(x, DataDesc)
                     else DataDesc(*x) for x in getattr(it, attr)]
                    for r, it in zip(renames, iters)], [])

    @property
    def provide_data(self):
        return self._renamed(self.rename_data, self.iters, "provide_data")

    @property
    def provide_label(self):
        return self._renamed(self.rename_label, self.iters, "provide_label")

    def reset(self):
        for event in self.data_ready:
            event.wait()
        for it in self.iters:
            it.reset()
        for event in self.data_ready:
            event.clear()
        for event in self.data_taken:
            event.set()

    def iter_next(self):
        for event in self.data_ready:
            event.wait()
        for err in self._errors:
            if err is not None:
                raise err
        ended = [b is None for b in self.next_batch]
        if all(ended):
            return False
        if any(ended):
            raise MXNetError("PrefetchingIter: the wrapped iterators have different lengths")
        pads = [b.pad for b in self.next_batch]
        if any(p != pads[0] for p in pads):
            raise MXNetError("PrefetchingIter: the wrapped iterators disagree on padding %s"
                             % pads)
        self.current_batch = DataBatch(sum([b.data for b in self.next_batch], []),
                                       sum([b.label for b in self.next_batch], []),
                                       self.next_batch[0].pad, self.next_batch[0].index,
                                       provide_data=self.provide_data,
                                       provide_label=self.provide_label)
        for event in self.data_ready:
            event.clear()
        for event in self.data_taken:
            event.set()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration



# --------------------------------------------------------------------------- file iterators


class _NativeIter(DataIter):
    """MXNet's iterators implemented in C++ (MXDataIter: CSVIter, MNISTIter, ...) hand out
    one array from getdata() / getlabel(), not a list; their batches hold lists. iter_next
    keeps the batch as self._current = (data, label, pad, index)."""

    def getdata(self):
        return self._current[0]

    def getlabel(self):
        return self._current[1]

    def getpad(self):
        return self._current[2]

    def getindex(self):
        return self._current[3]

    def next(self):
        if self.iter_next():
            return DataBatch(data=[self.getdata()], label=[self.getlabel()],
                             pad=self.getpad(), index=self.getindex())
        raise StopIteration


class _BatchLoader(_NativeIter):
    """Batches over in-memory rows with the C++ BatchLoader's round_batch rules.

    round_batch=True: the last partial batch is completed from the start of the data
    (pad = wrapped rows) and the next epoch continues after the wrapped rows;
    round_batch=False: the partial batch keeps stale rows and pad = missing rows.
    """

    def __init__(self, source, data, label, batch_size, round_batch, data_name, label_name,
                 label_batch_shape):
        super().__init__(int(batch_size))
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive, got %r" % (batch_size,))
        self._source = source
        self._rows = data
        self._labels = label
        self._round_batch = bool(round_batch)
        self._pos = 0
        self._num_overflow = 0
        self._data_buf = np.zeros((self.batch_size,) + data.shape[1:], data.dtype)
        self._label_buf = np.zeros((self.batch_size,) + label.shape[1:], label.dtype)
        self._index_buf = np.zeros(self.batch_size, np.uint64)
        self._label_batch_shape = (self.batch_size,) + tuple(label_batch_shape)
        self.provide_data = [DataDesc(data_name, self._data_buf.shape, data.dtype.type)]
        self.provide_label = [DataDesc(label_name, self._label_batch_shape, label.dtype.type)]
        self._current = None

    def _copy_row(self, top):
        self._data_buf[top] = self._rows[self._pos]
        self._label_buf[top] = self._labels[self._pos]
        self._index_buf[top] = self._pos
        self._pos += 1

    def reset(self):
        if not self._round_batch or self._num_overflow == 0:
            self._pos = 0
        else:
            self._num_overflow = 0

    def iter_next(self):
        if self._num_overflow != 0:
            return False
        total = self._rows.shape[0]
        top = 0
        while self._pos < total and top < self.batch_size:
            self._copy_row(top)
            top += 1
        if top == 0:
            return False
        pad = 0
        if top < self.batch_size:
            if self._round_batch:
                self._pos = 0
                while top < self.batch_size:
                    if self._pos >= total:
                        raise MXNetError("%s: number of input must be bigger than batch size "
                                         "(%d rows, batch_size %d)"
                                         % (self._source, total, self.batch_size))
                    self._copy_row(top)
                    top += 1
                    self._num_overflow += 1
                pad = self._num_overflow
            else:
                pad = self.batch_size - top
        self._current = (NDArray(self._data_buf.copy()),
                         NDArray(self._label_buf.reshape(self._label_batch_shape).copy()),
                         pad, self._index_buf.copy())
        return True


def _csv_dtype(dtype):
    if dtype is None:
        return np.float32
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.int32, np.int64):
        raise ValueError("CSVIter: dtype must be float32, int32 or int64, got %r" % (dtype,))
    return dtype


def _read_csv(fname, row_shape, dtype, what):
    """Rows of a CSV file as an array (nrows,) + row_shape, with errors naming the file."""
    width = int(np.prod(row_shape))
    parse = float if dtype is np.float32 else int
    rows = []
    try:
        with open(fname, "r") as handle:
            for lineno, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                fields = line.split(",")
                if len(fields) != width:
                    raise MXNetError("CSVIter: %s %s line %d has %d values, expected %d "
                                     "(shape %s)" % (what, fname, lineno, len(fields), width,
                                                     tuple(row_shape)))
                try:
                    rows.append([parse(f) for f in fields])
                except ValueError:
                    raise MXNetError("CSVIter: %s %s line %d: cannot parse %r as %s"
                                     % (what, fname, lineno, line, np.dtype(dtype).name)) \
                        from None
    except OSError as err:
        raise MXNetError("CSVIter: cannot read %s %s: %s" % (what, fname, err)) from None
    values = np.array(rows, dtype=dtype).reshape((len(rows),) + tuple(row_shape))
    return values


class CSVIter(_BatchLoader):
    """Batches of rows read from a CSV file (and an optional label CSV file)."""

    def __init__(self, data_csv, data_shape, label_csv="NULL", label_shape=(1,),
                 batch_size=None, round_batch=True, dtype=None, **ignored):
        if batch_size is None:
            raise ValueError("CSVIter: batch_size is required")
        dtype = _csv_dtype(dtype)
        data_shape = tuple(int(d) for d in data_shape)
        label_shape = tuple(int(d) for d in label_shape)
        data = _read_csv(data_csv, data_shape, dtype, "data_csv")
        if label_csv is None or label_csv == "NULL":
            label = np.zeros((data.shape[0],) + label_shape, dtype)
        else:
            label = _read_csv(label_csv, label_shape, dtype, "label_csv")
            if label.shape[0] != data.shape[0]:
                raise MXNetError("CSVIter: label_csv %s has %d rows but data_csv %s has %d"
                                 % (label_csv, label.shape[0], data_csv, data.shape[0]))
        if data.shape[0] == 0:
            raise MXNetError("CSVIter: data_csv %s has no rows" % data_csv)
        label_batch = () if label_shape == (1,) else label_shape
        super().__init__(data_csv, data, label, batch_size, round_batch, "data",
                         "softmax_label", label_batch)


_IDX_IMAGES, _IDX_LABELS = 0x803, 0x801


def _read_idx(fname, magic, what):
    """Dims and uint8 payload of an IDX file (gzip or plain), with errors naming the file."""
    try:
        with open(fname, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise MXNetError("MNISTIter: cannot read %s file %s: %s" % (what, fname, err)) from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MXNetError("MNISTIter: %s file %s is truncated (%d bytes, header needs %d)"
                         % (what, fname, len(raw), header))
    (found,) = struct.unpack_from(">I", raw, 0)
    if found != magic:
        raise MXNetError("MNISTIter: %s file %s has bad magic 0x%08X (expected 0x%08X)"
                         % (what, fname, found, magic))
    dims = struct.unpack_from(">%dI" % ndim, raw, 4)
    need = int(np.prod(dims))
    if len(raw) - header < need:
        raise MXNetError("MNISTIter: %s file %s is truncated: %d data bytes for dims %s "
                         "(need %d)" % (what, fname, len(raw) - header, dims, need))
    return dims, np.frombuffer(raw, np.uint8, need, header)


class MNISTIter(_NativeIter):
    """Batches of MNIST IDX files (gzip or plain); the partial last batch is dropped."""

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
                 batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
                 part_index=0, **ignored):
        super().__init__(int(batch_size))
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive, got %r" % (batch_size,))
        if not 0 <= part_index < num_parts:
            raise ValueError("MNISTIter: need 0 <= part_index < num_parts, got %d and %d"
                             % (part_index, num_parts))
        (count, rows, cols), pixels = _read_idx(image, _IDX_IMAGES, "image")
        (nlabels,), labels = _read_idx(label, _IDX_LABELS, "label")
        if nlabels != count:
            raise MXNetError("MNISTIter: label file %s has %d labels but image file %s has %d "
                             "images" % (label, nlabels, image, count))
        start = int(count / num_parts * part_index)
        end = int(count / num_parts * (part_index + 1))
        images = pixels.reshape(count, rows, cols)[start:end].astype(np.float32)
        images *= np.float32(1.0 / 256.0)  # MXNet's scaling: values in [0, 255/256]
        labels = labels[start:end].astype(np.float32)
        if shuffle:
            order = np.random.RandomState(seed).permutation(images.shape[0])
            images, labels = images[order], labels[order]
        if flat:
            self._images = images.reshape(images.shape[0], rows * cols)
        else:
            self._images = images.reshape(images.shape[0], 1, rows, cols)
        self._labels = labels
        self._loc = 0
        self._current = None
        self.provide_data = [DataDesc("data", (self.batch_size,) + self._images.shape[1:])]
        self.provide_label = [DataDesc("softmax_label", (self.batch_size,))]
        if not silent:
            _LOG.info("MNISTIter: load %d images, shuffle=%d, shape=%s", images.shape[0],
                         int(bool(shuffle)), self.provide_data[0].shape)

    def reset(self):
        self._loc = 0

    def iter_next(self):
        if self._loc + self.batch_size > self._images.shape[0]:
            return False
        rows = slice(self._loc, self._loc + self.batch_size)
        self._current = (NDArray(self._images[rows].copy()), NDArray(self._labels[rows].copy()),
                         0, None)
        self._loc += self.batch_size
        return True


def LibSVMIter(*args, **kwargs):  # noqa: N802  (MXNet's name)
    """MXNet's LibSVMIter: csr data batches from LibSVM-style files (see mx.nd.sparse)."""
    from .sparse import LibSVMIter as make
    return make(*args, **kwargs)


def ImageRecordIter(*args, **kwargs):  # noqa: N802  (MXNet's name)
    """Batches of images from a RecordIO `.rec` file (see mx.image.ImageRecordIterImpl)."""
    from .image import ImageRecordIterImpl
    return ImageRecordIterImpl(*args, **kwargs)
