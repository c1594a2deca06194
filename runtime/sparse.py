"""mx.nd.sparse: the CSR and row_sparse storage types around dense computation.

A sparse array here is an NDArray: it holds the dense array it stands for (so every dense
path, the compiled executors and mx.nd included, reads it unchanged) plus the part of its
structure that values alone cannot tell, because MXNet may store zeros explicitly:

* ``RowSparseNDArray`` keeps the set of rows stored explicitly; its ``indices`` are those
  rows together with every row that holds a non-zero value.
* ``CSRNDArray`` keeps the positions stored explicitly; its ``indices`` / ``indptr`` list
  those positions together with every non-zero one, in row-major order.

So writes through a dense view never break the structure: a row or element that becomes
non-zero is stored. A full assignment (``a[:] = value``, ``copyto``) replaces the structure
with the value's, as MXNet's cast_storage does. Arithmetic is computed densely; the result
keeps the storage type where MXNet's does (sparse times or divided by a scalar, a sum or
difference or product of two arrays of one sparse type), else it is dense.

Index arrays are checked on construction (in range, sorted, ``indptr`` monotone and
consistent with ``indices``); a violation raises an MXNetError naming the array at fault.

Also here: the optimizers' lazy-update helpers (`lazy_rows`, `write_rows`), the Module's
choice of row_sparse parameters that MXNet updates lazily (`lazy_module_params`), the sparse
file records (`record_bytes`, `from_record`) and mx.io.LibSVMIter.
"""
import logging

import numpy as np

from .base import MXNetError, numeric_types
from .context import Context
from .ndarray import NDArray, _ctx_or_default, _divide, _dtype_type, _shape_tuple

__all__ = ["BaseSparseNDArray", "CSRNDArray", "RowSparseNDArray", "csr_matrix",
           "row_sparse_array", "zeros", "empty", "array", "cast_storage", "retain", "add",
           "subtract", "multiply", "divide", "STORAGE_TYPES"]

STORAGE_TYPES = ("default", "row_sparse", "csr")
_INDEX_DTYPE = np.int64
_LOG = logging.getLogger("mxc.sparse")
_LOGGED = set()


def log_once(key, message, *args):
    """Log `message` on mxc.sparse the first time `key` is seen (MXNet logs its storage
    fallbacks and lazy updates once)."""
    if key not in _LOGGED:
        _LOGGED.add(key)
        _LOG.info(message, *args)


class SparseValueError(MXNetError, ValueError):
    """A storage type or shape that does not fit (a ValueError in MXNet's Python API)."""


def _check_stype(stype, what):
    if stype not in STORAGE_TYPES:
        raise SparseValueError("%s: unknown storage type %r (expected one of %s)"
                               % (what, stype, ", ".join(STORAGE_TYPES)))
    return stype


def _as_index_array(values, what):
    """A 1-D int64 array of indices, or an MXNetError naming `what`."""
    if isinstance(values, NDArray):
        values = values._data
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MXNetError("%s must be 1-D, got shape %s" % (what, arr.shape))
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or \
                not np.all(arr == np.round(arr)):
            raise MXNetError("%s must hold integers, got dtype %s" % (what, arr.dtype))
    return arr.astype(_INDEX_DTYPE)


def _values(source, dtype):
    """(numpy array, dtype type) of any array-like, NDArray included."""
    if isinstance(source, NDArray):
        dtype = source.dtype if dtype is None else dtype
        source = source._data
    elif dtype is None:
        dtype = getattr(source, "dtype", None) if isinstance(source, np.ndarray) else None
    dtype = _dtype_type(dtype)
    arr = np.asarray(source)
    if arr.dtype.kind not in "biuf":
        raise MXNetError("sparse array values: %s data (dtype %s) is not supported"
                         % ("non-numeric", arr.dtype))
    return arr.astype(dtype), dtype


# --------------------------------------------------------------------------- classes


class BaseSparseNDArray(NDArray):
    """Common part of CSRNDArray and RowSparseNDArray (see the module docstring)."""

    _stype = None

    def __init__(self, dense, ctx=None, stored=None):
        super().__init__(dense, ctx)
        self._stored = stored

    @property
    def stype(self):
        """Storage type: 'csr' or 'row_sparse'."""
        return self._stype

    @property
    def _num_aux(self):
        """Number of index arrays: 1 (row_sparse: indices) or 2 (csr: indptr, indices)."""
        return 2 if self._stype == "csr" else 1

    def _compare(self, other, fn):
        # MXNet keeps the storage type where the comparison maps the zeros it does not store
        # to zero (e.g. y > 0, 1 == y), else the result is dense
        result = super()._compare(other, fn)
        if result is NotImplemented:
            return result
        if isinstance(other, (numeric_types, np.generic, bool)):
            zero = fn(np.zeros(1, self.dtype), other)
        elif isinstance(other, BaseSparseNDArray) and other.stype == self.stype:
            zero = fn(np.zeros(1, self.dtype), np.zeros(1, other.dtype))
        else:
            return result
        return _from_dense(result._data, self.stype, self._ctx) if not zero[0] else result

    def _like(self, dense, stored=None, ctx=None):
        return type(self)(dense, self._ctx if ctx is None else ctx, stored)

    # ---- conversion
    def tostype(self, stype):
        """A copy in storage type `stype` ('default', 'csr' or 'row_sparse')."""
        return cast_storage(self, stype)

    def copy(self):
        """A deep copy, same storage type and context."""
        return self._like(self._data.copy(), self._copy_stored())

    def _copy_stored(self):
        return None if self._stored is None else self._stored.copy()

    def copyto(self, other):
        """Copy into `other` (taking its storage type) or onto a new array on Context
        `other` (keeping this one's)."""
        if isinstance(other, Context):
            return self._like(self._data.copy(), self._copy_stored(), ctx=other)
        if isinstance(other, NDArray):
            if other is self:
                return other
            if other.shape != self.shape:
                raise MXNetError("copyto: shape mismatch, source %s vs target %s"
                                 % (self.shape, other.shape))
            _assign(other, self)
            return other
        raise TypeError("copyto does not support type %s" % type(other).__name__)

    def astype(self, dtype, copy=True):
        """The array converted to `dtype`, same storage type."""
        dtype = _dtype_type(dtype)
        if not copy and dtype == self.dtype:
            return self
        return self._like(self._data.astype(dtype), self._copy_stored())

    def check_format(self, full_check=True):
        """Raise an MXNetError when the structure is not valid (it always is once built)."""
        if self.stype == "csr":
            _check_csr(self.data._data, self.indices._data, self.indptr._data, self.shape)
        else:
            _check_rsp(self.data._data, self.indices._data, self.shape)

    def reshape(self, *shape, **kwargs):
        raise MXNetError("reshape is not supported for %s (storage type %s); convert it "
                         "with tostype('default') first" % (type(self).__name__, self.stype))

    # ---- assignment: only the whole array, as MXNet
    def __setitem__(self, key, value):
        if not _is_whole(key):
            raise MXNetError("%s only supports [:] for assignment, got key %r"
                             % (type(self).__name__, key))
        if isinstance(value, NDArray):
            if value.shape != self.shape:
                raise MXNetError("%s[:] = value: shape %s does not match %s"
                                 % (type(self).__name__, value.shape, self.shape))
            _assign(self, value)
        elif isinstance(value, (numeric_types, bool)):
            self._data[...] = value
            self._stored = None
        else:
            arr = np.asarray(value)
            try:
                self._data[...] = arr
            except ValueError:
                raise MXNetError("%s[:] = value: shape %s does not match %s"
                                 % (type(self).__name__, arr.shape, self.shape)) from None
            self._stored = None

    # ---- arithmetic: computed densely, the storage type kept where MXNet keeps it
    def _binary(self, other, fn, reflected=False):
        result = super()._binary(other, fn, reflected)
        if result is NotImplemented:
            return result
        scalar = isinstance(other, (numeric_types, np.generic, bool))
        keeps = (scalar and (fn is np.multiply or fn is _divide and not reflected) or
                 isinstance(other, BaseSparseNDArray) and other.stype == self.stype and
                 fn in (np.add, np.subtract, np.multiply))
        return _from_dense(result._data, self.stype, self._ctx) if keeps else result

    def __neg__(self):
        return self._like(-self._data, self._copy_stored())

    def __repr__(self):
        shape_info = "x".join("%d" % d for d in self.shape)
        return "\n<%s %s @%s>" % (type(self).__name__, shape_info, self._ctx)

    __str__ = __repr__

    def __setstate__(self, state):
        # pickled as its sparse file record (see NDArray.__getstate__)
        handle = state.get("handle") if isinstance(state, dict) else state
        self._stored = None
        if handle is None:
            super().__setstate__(state)
            return
        from .ndarray import _read_record
        arr, end = _read_record(bytes(handle), 0)
        if end != len(handle) or getattr(arr, "stype", "default") != self.stype:
            raise MXNetError("pickled %s: the record is not one %s array"
                             % (type(self).__name__, self.stype))
        self._data, self._ctx, self._stored = arr._data, arr._ctx, arr._stored


class RowSparseNDArray(BaseSparseNDArray):
    """A row_sparse array: its stored rows (``indices``) and their values (``data``)."""

    _stype = "row_sparse"

    def _stored_rows(self):
        n = self.shape[0] if self.ndim else 0
        if n == 0:
            return np.zeros((0,), _INDEX_DTYPE)
        nonzero = np.flatnonzero(self._data.reshape(n, -1).any(axis=1))
        if self._stored is None or not self._stored.size:
            return nonzero.astype(_INDEX_DTYPE)
        return np.union1d(self._stored, nonzero).astype(_INDEX_DTYPE)

    @property
    def indices(self):
        """The stored row indices, sorted, as an int64 NDArray."""
        return NDArray(self._stored_rows(), self._ctx)

    @property
    def data(self):
        """The stored rows' values, shape (len(indices),) + shape[1:]."""
        return NDArray(np.ascontiguousarray(self._data[self._stored_rows()]), self._ctx)

    def __getitem__(self, key):
        if _is_whole(key):
            return self
        raise MXNetError("RowSparseNDArray only supports [:] for indexing, got key %r; "
                         "convert it with tostype('default') first" % (key,))

    def retain(self, indices):
        """A row_sparse copy keeping only the stored rows listed in `indices`."""
        return retain(self, indices)

    def _add_rows(self, rows):
        """Mark `rows` as stored (after a write to them through the dense values)."""
        rows = np.asarray(rows, _INDEX_DTYPE)
        self._stored = rows.copy() if self._stored is None else np.union1d(self._stored, rows)


class CSRNDArray(BaseSparseNDArray):
    """A 2-D compressed sparse row array: ``data``, ``indices`` (columns), ``indptr``."""

    _stype = "csr"

    def _mask(self):
        mask = self._data != 0
        if self._stored is not None:
            mask |= self._stored
        return mask

    @property
    def indices(self):
        """Column index of every stored element, row by row, as an int64 NDArray."""
        return NDArray(np.nonzero(self._mask())[1].astype(_INDEX_DTYPE), self._ctx)

    @property
    def indptr(self):
        """Row pointers: row i's elements are data[indptr[i]:indptr[i+1]]."""
        counts = self._mask().sum(axis=1).astype(_INDEX_DTYPE)
        return NDArray(np.concatenate([[0], np.cumsum(counts)]).astype(_INDEX_DTYPE),
                       self._ctx)

    @property
    def data(self):
        """The stored values, row by row."""
        return NDArray(np.ascontiguousarray(self._data[self._mask()]), self._ctx)

    def __getitem__(self, key):
        if _is_whole(key):
            return self
        if isinstance(key, (int, np.integer)):
            n = self.shape[0]
            if not -n <= key < n:
                raise IndexError("index %d is out of bounds for axis 0 with size %d"
                                 % (key, n))
            key = slice(int(key) % n, int(key) % n + 1)
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise MXNetError("CSRNDArray slicing supports step 1 only, got %r" % (key,))
            stored = None if self._stored is None else self._stored[key].copy()
            return CSRNDArray(self._data[key].copy(), self._ctx, stored)
        raise MXNetError("CSRNDArray only supports [:], an integer or a row slice for "
                         "indexing, got key %r" % (key,))

    def asscipy(self):
        """A scipy.sparse.csr_matrix with the same structure (needs SciPy)."""
        try:
            import scipy.sparse as spsp
        except ImportError:
            raise MXNetError("CSRNDArray.asscipy needs SciPy, which is not installed") from None
        return spsp.csr_matrix((self.data._data, self.indices._data, self.indptr._data),
                               shape=self.shape)


_CLASSES = {"row_sparse": RowSparseNDArray, "csr": CSRNDArray}


def _is_whole(key):
    return (isinstance(key, slice) and key == slice(None)) or key is Ellipsis or \
        (isinstance(key, tuple) and len(key) == 0)


def _assign(target, source):
    """target's values and structure := source's (cast to target's storage type)."""
    target._data[...] = source._data
    if not isinstance(target, BaseSparseNDArray):
        return
    same = isinstance(source, BaseSparseNDArray) and source.stype == target.stype
    # another storage type is cast as cast_storage does: the non-zero values are stored
    target._stored = source._copy_stored() if same else None


def _from_dense(values, stype, ctx, stored=None):
    values = np.ascontiguousarray(values)
    if stype == "default":
        return NDArray(values, ctx)
    if stype == "csr" and values.ndim != 2:
        raise MXNetError("csr storage needs a 2-D array, got shape %s" % (values.shape,))
    if stype == "row_sparse" and values.ndim < 1:
        raise MXNetError("row_sparse storage needs at least 1 dimension")
    return _CLASSES[stype](values, ctx, stored)


# --------------------------------------------------------------------------- checks


def _check_csr(data, indices, indptr, shape):
    rows, cols = shape
    if indptr.shape[0] != rows + 1:
        raise MXNetError("csr_matrix: indptr has %d entries, expected rows + 1 = %d"
                         % (indptr.shape[0], rows + 1))
    if indptr[0] != 0:
        raise MXNetError("csr_matrix: indptr[0] must be 0, got %d" % indptr[0])
    steps = np.diff(indptr)
    if np.any(steps < 0):
        row = int(np.flatnonzero(steps < 0)[0])
        raise MXNetError("csr_matrix: indptr must be non-decreasing, indptr[%d] = %d > "
                         "indptr[%d] = %d" % (row, indptr[row], row + 1, indptr[row + 1]))
    if indptr[-1] != indices.shape[0]:
        raise MXNetError("csr_matrix: indptr[-1] = %d but indices has %d entries"
                         % (indptr[-1], indices.shape[0]))
    if data.shape[0] != indices.shape[0]:
        raise MXNetError("csr_matrix: data has %d entries but indices has %d"
                         % (data.shape[0], indices.shape[0]))
    bad = np.flatnonzero((indices < 0) | (indices >= cols))
    if bad.size:
        raise MXNetError("csr_matrix: indices[%d] = %d is out of range for %d columns"
                         % (bad[0], indices[bad[0]], cols))
    row_of = np.repeat(np.arange(rows), steps)
    same_row = row_of[1:] == row_of[:-1]
    unsorted = np.flatnonzero(same_row & (indices[1:] <= indices[:-1]))
    if unsorted.size:
        i = int(unsorted[0])
        raise MXNetError("csr_matrix: column indices of row %d must be strictly increasing, "
                         "got indices[%d] = %d then %d" % (row_of[i], i, indices[i],
                                                          indices[i + 1]))


def _check_rsp(data, indices, shape):
    if data.shape[:1] != indices.shape:
        raise MXNetError("row_sparse_array: data has %d rows but indices has %d entries"
                         % (data.shape[0] if data.ndim else 0, indices.shape[0]))
    if tuple(data.shape[1:]) != tuple(shape[1:]):
        raise MXNetError("row_sparse_array: data rows have shape %s, expected %s for an "
                         "array of shape %s" % (data.shape[1:], tuple(shape[1:]), shape))
    bad = np.flatnonzero((indices < 0) | (indices >= shape[0]))
    if bad.size:
        raise MXNetError("row_sparse_array: indices[%d] = %d is out of range for %d rows"
                         % (bad[0], indices[bad[0]], shape[0]))
    unsorted = np.flatnonzero(indices[1:] <= indices[:-1])
    if unsorted.size:
        i = int(unsorted[0])
        raise MXNetError("row_sparse_array: indices must be strictly increasing, got "
                         "indices[%d] = %d then %d" % (i, indices[i], indices[i + 1]))


# --------------------------------------------------------------------------- creation


def _is_scipy_like(obj):
    """A scipy.sparse matrix (or anything with its csr parts or a tocsr method)."""
    if isinstance(obj, NDArray):
        return False
    return all(hasattr(obj, a) for a in ("data", "indices", "indptr", "shape")) or \
        (hasattr(obj, "tocsr") and hasattr(obj, "shape"))


def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A CSRNDArray from (data, indices, indptr), (data, (row, col)), a shape (M, N) for
    an empty array, a dense array-like, a CSRNDArray, or a scipy.sparse matrix."""
    ctx = _ctx_or_default(ctx)
    if isinstance(arg1, tuple) and len(arg1) == 3:
        return _csr_from_parts(arg1[0], arg1[1], arg1[2], shape, ctx, dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[1], tuple):
        return _csr_from_coo(arg1[0], arg1[1], shape, ctx, dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2 and \
            all(isinstance(d, (int, np.integer)) for d in arg1):
        if shape is not None and _shape_tuple(shape) != _shape_tuple(arg1):
            raise SparseValueError("csr_matrix: shape %s given twice (%s)" % (arg1, shape))
        return zeros("csr", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, CSRNDArray):
        out = arg1.copyto(ctx).astype(dtype or arg1.dtype)
    elif _is_scipy_like(arg1):
        csr = arg1.tocsr(copy=True) if hasattr(arg1, "tocsr") else arg1
        if hasattr(csr, "sum_duplicates"):      # canonical form: duplicates summed, sorted
            csr.sum_duplicates()
        return _csr_from_parts(csr.data, csr.indices, csr.indptr,
                               shape if shape is not None else csr.shape, ctx,
                               dtype if dtype is not None else csr.data.dtype)
    else:
        values, dtype = _values(arg1, dtype)
        out = _from_dense(values, "csr", ctx)
    if shape is not None and out.shape != _shape_tuple(shape):
        raise SparseValueError("csr_matrix: the source has shape %s, shape=%s was given"
                               % (out.shape, _shape_tuple(shape)))
    return out


def _csr_from_parts(data, indices, indptr, shape, ctx, dtype):
    data, dtype = _values(data, dtype)
    if data.ndim != 1:
        raise MXNetError("csr_matrix: data must be 1-D, got shape %s" % (data.shape,))
    indices = _as_index_array(indices, "csr_matrix: indices")
    indptr = _as_index_array(indptr, "csr_matrix: indptr")
    if shape is None:
        if indptr.shape[0] < 1:
            raise MXNetError("csr_matrix: indptr must have at least one entry")
        shape = (indptr.shape[0] - 1, int(indices.max()) + 1 if indices.size else 0)
    shape = _shape_tuple(shape)
    if len(shape) != 2:
        raise MXNetError("csr_matrix: shape must be 2-D, got %s" % (shape,))
    _check_csr(data, indices, indptr, shape)
    dense = np.zeros(shape, dtype)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    dense[rows, indices] = data
    stored = np.zeros(shape, bool)
    stored[rows, indices] = True
    return CSRNDArray(dense, ctx, stored if not np.all(data != 0) else None)


def _csr_from_coo(data, coords, shape, ctx, dtype):
    data, dtype = _values(data, dtype)
    if len(coords) != 2:
        raise MXNetError("csr_matrix: (data, (row, col)) needs two coordinate arrays")
    row = _as_index_array(coords[0], "csr_matrix: row")
    col = _as_index_array(coords[1], "csr_matrix: col")
    if not (data.ndim == 1 and data.shape == row.shape == col.shape):
        raise MXNetError("csr_matrix: data, row and col must be 1-D of one length, got "
                         "%s, %s, %s" % (data.shape, row.shape, col.shape))
    if shape is None:
        shape = (int(row.max()) + 1 if row.size else 0, int(col.max()) + 1 if col.size else 0)
    shape = _shape_tuple(shape)
    for name, idx, bound in (("row", row, shape[0]), ("col", col, shape[1])):
        bad = np.flatnonzero((idx < 0) | (idx >= bound))
        if bad.size:
            raise MXNetError("csr_matrix: %s[%d] = %d is out of range for shape %s"
                             % (name, bad[0], idx[bad[0]], shape))
    dense = np.zeros(shape, dtype)
    np.add.at(dense, (row, col), data)      # duplicates are summed, as SciPy does
    stored = np.zeros(shape, bool)
    stored[row, col] = True
    return CSRNDArray(dense, ctx, stored)


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A RowSparseNDArray from (data, indices), a shape (D0, D1, ...) for an empty array,
    a dense array-like or a RowSparseNDArray."""
    ctx = _ctx_or_default(ctx)
    if isinstance(arg1, tuple) and len(arg1) == 2 and \
            not all(isinstance(d, (int, np.integer)) for d in arg1):
        return _rsp_from_parts(arg1[0], arg1[1], shape, ctx, dtype)
    if isinstance(arg1, tuple) and all(isinstance(d, (int, np.integer)) for d in arg1):
        if shape is not None and _shape_tuple(shape) != _shape_tuple(arg1):
            raise SparseValueError("row_sparse_array: shape %s given twice (%s)"
                                   % (arg1, shape))
        return zeros("row_sparse", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, RowSparseNDArray):
        out = arg1.copyto(ctx).astype(dtype or arg1.dtype)
    else:
        values, dtype = _values(arg1, dtype)
        out = _from_dense(values, "row_sparse", ctx)
    if shape is not None and out.shape != _shape_tuple(shape):
        raise SparseValueError("row_sparse_array: the source has shape %s, shape=%s was "
                               "given" % (out.shape, _shape_tuple(shape)))
    return out


def _rsp_from_parts(data, indices, shape, ctx, dtype):
    data, dtype = _values(data, dtype)
    if data.ndim < 1:
        raise MXNetError("row_sparse_array: data must have at least one dimension")
    indices = _as_index_array(indices, "row_sparse_array: indices")
    if shape is None:
        shape = (int(indices.max()) + 1 if indices.size else 0,) + tuple(data.shape[1:])
    shape = _shape_tuple(shape)
    _check_rsp(data, indices, shape)
    dense = np.zeros(shape, dtype)
    dense[indices] = data
    return RowSparseNDArray(dense, ctx, indices.copy())


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """An all-zero array of storage type `stype` with nothing stored."""
    _check_stype(stype, "zeros")
    values = np.zeros(_shape_tuple(shape), _dtype_type(dtype))
    return _from_dense(values, stype, _ctx_or_default(ctx))


def empty(stype, shape, ctx=None, dtype=None):
    """An empty (all-zero) array of storage type `stype`."""
    return zeros(stype, shape, ctx=ctx, dtype=dtype)


def array(source_array, ctx=None, dtype=None):
    """A sparse array copied from a CSRNDArray, RowSparseNDArray or scipy.sparse matrix."""
    if isinstance(source_array, CSRNDArray) or _is_scipy_like(source_array):
        return csr_matrix(source_array, ctx=ctx, dtype=dtype)
    if isinstance(source_array, RowSparseNDArray):
        return row_sparse_array(source_array, ctx=ctx, dtype=dtype)
    raise MXNetError("mx.nd.sparse.array: expected a CSRNDArray, RowSparseNDArray or "
                     "scipy.sparse matrix, got %s" % type(source_array).__name__)


def add(lhs, rhs):
    """lhs + rhs (a sparse result where MXNet's is: two arrays of one sparse type)."""
    return lhs + rhs


def subtract(lhs, rhs):
    """lhs - rhs (a sparse result where MXNet's is: two arrays of one sparse type)."""
    return lhs - rhs


def multiply(lhs, rhs):
    """lhs * rhs (sparse when a sparse array is multiplied by a scalar or its own type)."""
    return lhs * rhs


def divide(lhs, rhs):
    """lhs / rhs (sparse when a sparse array is divided by a scalar)."""
    return lhs / rhs


def __getattr__(name):
    """mx.nd.sparse.<operator> (dot, square_sum, ...): the operator, computed densely."""
    from . import ndarray
    return getattr(ndarray, "_square_sum" if name == "square_sum" else name)


def cast_storage(data, stype, out=None):
    """`data` converted to storage type `stype`: only the non-zero values are stored."""
    _check_stype(stype, "cast_storage")
    if not isinstance(data, NDArray):
        data = NDArray(np.asarray(data))
    if isinstance(data, BaseSparseNDArray) and data.stype == stype:
        result = data.copy()
    else:
        result = _from_dense(data._data.copy(), stype, data.context)
    if out is not None:
        _assign(out, result)
        return out
    return result


def retain(data, indices=None, **kwargs):
    """A row_sparse copy of `data` keeping the stored rows listed in `indices`."""
    if kwargs:
        raise MXNetError("retain: unknown argument(s) %s (expected data, indices)"
                         % ", ".join(sorted(kwargs)))
    if indices is None:
        raise MXNetError("retain: the indices to keep are required")
    if not isinstance(data, RowSparseNDArray):
        raise MXNetError("retain: expected a RowSparseNDArray, got %s (storage type %s)"
                         % (type(data).__name__, getattr(data, "stype", "?")))
    wanted = _as_index_array(indices, "retain: indices")
    bad = np.flatnonzero((wanted < 0) | (wanted >= data.shape[0]))
    if bad.size:
        raise MXNetError("retain: indices[%d] = %d is out of range for %d rows"
                         % (bad[0], wanted[bad[0]], data.shape[0]))
    keep = np.intersect1d(data._stored_rows(), wanted).astype(_INDEX_DTYPE)
    dense = np.zeros_like(data._data)
    dense[keep] = data._data[keep]
    return RowSparseNDArray(dense, data.context, keep)


# --------------------------------------------------------------------------- optimizers


def lazy_rows(weight, grad, states, what):
    """The rows a lazy update touches: grad's stored rows when grad is row_sparse and
    weight is dense or row_sparse (a row_sparse weight must store every row, as MXNet
    requires of its sparse update kernels); None for a dense update."""
    if getattr(grad, "stype", "default") != "row_sparse":
        return None
    wstype = getattr(weight, "stype", "default")
    if wstype not in ("default", "row_sparse"):
        return None
    if wstype == "row_sparse" and weight._stored_rows().shape[0] != weight.shape[0]:
        raise MXNetError("%s: a row_sparse weight must store all of its %d rows for the "
                         "sparse update, it stores %d" % (what, weight.shape[0],
                                                         weight._stored_rows().shape[0]))
    return grad._stored_rows()


def fill_states(states):
    """MXNet's sparse update kernels first fill a row_sparse state that stores nothing with
    zeros in every row; from then on it stores every row."""
    for state in states:
        if isinstance(state, RowSparseNDArray) and not state._stored_rows().size:
            state._add_rows(np.arange(state.shape[0]))


def write_rows(target, rows, values):
    """target[rows] := values through the dense values; a row_sparse target stores them."""
    target._data[rows] = values
    if isinstance(target, RowSparseNDArray):
        target._add_rows(rows)


# --------------------------------------------------------------------------- symbols

_STYPE_CODES = {"0": "default", "1": "row_sparse", "2": "csr"}


def declared_stypes(symbol):
    """{variable name: storage type} of the variables declared sparse (mx.sym.var(...,
    stype='csr' | 'row_sparse'), stored as MXNet's `__storage_type__` attribute)."""
    found = {}
    for name, attrs in symbol.attr_dict().items():
        stype = _STYPE_CODES.get(attrs.get("__storage_type__", "0"), "default")
        if stype != "default":
            found[name] = stype
    return found


def with_declared_stypes(arrays, stypes):
    """`arrays` (a dict name -> NDArray) with the arrays named in `stypes` cast to theirs."""
    return {name: cast_storage(arr, stypes[name]) if name in stypes else arr
            for name, arr in arrays.items()}


# --------------------------------------------------------------------------- files


def from_record(record, ctx):
    """The sparse array of a parsed sparse file record (compiler.paramsfile.Record)."""
    if record.stype == "row_sparse":
        return RowSparseNDArray(record.data, ctx, record.aux[0].astype(_INDEX_DTYPE))
    indptr, cols = record.aux
    stored = np.zeros(record.shape, bool)
    stored[np.repeat(np.arange(record.shape[0]), np.diff(indptr)), cols] = True
    return CSRNDArray(record.data, ctx, stored)


def record_bytes(arr):
    """One sparse array record as MXNet's mx.nd.save writes it (the layout is described in
    compiler.paramsfile): storage shape, shape, device, dtype, index array headers, the
    stored values, the index arrays."""
    import struct
    from .compiler.paramsfile import DTYPE_TO_FLAG, STYPE_CODES, V2_MAGIC
    values = arr.data._data
    aux = [arr.indices._data] if arr.stype == "row_sparse" else \
        [arr.indptr._data, arr.indices._data]
    flag = DTYPE_TO_FLAG.get(arr.dtype)
    if flag is None:
        raise MXNetError("cannot save a %s of dtype %s" % (type(arr).__name__,
                                                          np.dtype(arr.dtype).name))

    def shape_bytes(shape):
        return struct.pack("<i%dq" % len(shape), len(shape), *shape)

    parts = [struct.pack("<Ii", V2_MAGIC, STYPE_CODES[arr.stype]), shape_bytes(values.shape),
             shape_bytes(arr.shape),
             struct.pack("<iii", arr.context.device_typeid, arr.context.device_id, flag)]
    for index in aux:
        parts.append(struct.pack("<i", DTYPE_TO_FLAG[np.int64]) + shape_bytes(index.shape))
    parts.append(np.ascontiguousarray(values).astype(
        np.dtype(arr.dtype).newbyteorder("<"), copy=False).tobytes())
    parts.extend(index.astype("<i8").tobytes() for index in aux)
    return b"".join(parts)


def _sparse_gradient_sources(symbol, names, stypes):
    """{parameter: sources} for the parameters in `names` whose gradient MXNet makes
    row_sparse: every consumer is an Embedding with sparse_grad (or SparseEmbedding) taking
    it as weight, a dot of a csr variable by it (no transposes), or _square_sum. A source
    names the batch input whose values tell the rows MXNet stores: ("take", input name,
    input_dim) for an Embedding over a variable, ("columns", input name) for a dot."""
    import json
    nodes = json.loads(symbol.tojson())["nodes"]
    sources = {n: [] for n in names}
    sparse_ok = {n: True for n in names}

    def var(entry):
        node = nodes[entry[0]]
        return node["name"] if node["op"] == "null" else None

    for node in nodes:
        attrs = node.get("attrs") or {}
        for slot, entry in enumerate(node.get("inputs", [])):
            name = var(entry)
            if name not in sources:
                continue
            op = node["op"]
            if op in ("Embedding", "_contrib_SparseEmbedding") and slot == 1 and (
                    op != "Embedding" or attrs.get("sparse_grad") in ("True", "true", "1")):
                data = var(node["inputs"][0])
                if data is not None:
                    sources[name].append(("take", data, int(attrs["input_dim"])))
            elif op == "dot" and slot == 1 and stypes.get(var(node["inputs"][0])) == "csr" \
                    and attrs.get("transpose_a", "False") in ("False", "false", "0") \
                    and attrs.get("transpose_b", "False") in ("False", "false", "0"):
                sources[name].append(("columns", var(node["inputs"][0])))
            elif op != "_square_sum":
                sparse_ok[name] = False
    return {n: src for n, src in sources.items() if sparse_ok[n]}


def lazy_module_params(optimizer, symbol):
    """{name: sources} of a Module's parameters declared row_sparse that MXNet updates with
    the optimizer's sparse (lazy) update: their gradient is row_sparse (see
    _sparse_gradient_sources) and the optimizer has a sparse update; empty otherwise (a
    dense gradient gets the dense update, as MXNet's storage fallback)."""
    stypes = declared_stypes(symbol)
    names = {n for n, s in stypes.items() if s == "row_sparse"}
    if not names:
        return {}
    from . import optimizer as opt
    if getattr(optimizer, "lazy_update", False) or isinstance(optimizer, (opt.AdaGrad,
                                                                          opt.Ftrl)):
        return _sparse_gradient_sources(symbol, names, stypes)
    return {}


def row_sparse_views(grad, weight, sources=(), inputs=None):
    """A Module's gradient and weight arrays (views of its memory) as MXNet hands a
    row_sparse parameter to the updater: the weight stores every row; the gradient the rows
    the batch reaches (the indices an Embedding looks up, the columns a csr batch holds, from
    `inputs`, the bound input arrays by name) and every row with a non-zero gradient."""
    reached = [np.zeros(0, _INDEX_DTYPE)]
    for source in sources:
        values = np.asarray(inputs[source[1]])
        if source[0] == "take":
            reached.append(np.clip(values.astype(np.int64), 0, source[2] - 1).ravel())
        else:
            reached.append(np.flatnonzero(values.reshape(values.shape[0], -1).any(axis=0)))
    rows = np.unique(np.concatenate(reached)).astype(_INDEX_DTYPE)
    every = np.arange(weight.shape[0], dtype=_INDEX_DTYPE)
    return (RowSparseNDArray(grad._data, grad.context, rows),
            RowSparseNDArray(weight._data, weight.context, every))


# --------------------------------------------------------------------------- LibSVMIter


def _libsvm_files(path, what):
    import os
    if os.path.isdir(path):
        names = sorted(os.path.join(path, n) for n in os.listdir(path)
                       if os.path.isfile(os.path.join(path, n)))
        if not names:
            raise MXNetError("LibSVMIter: %s directory %s holds no files" % (what, path))
        return names
    return [path]


def read_libsvm(path, width, what, num_parts=1, part_index=0):
    """(leading values, indptr, column indices, values) of the LibSVM-style lines in `path`
    (a file or a directory of files): `value idx:val idx:val ...` with zero-based column
    indices below `width`, increasing within a line. Errors name the file and line.

    With num_parts > 1, only the lines of part `part_index` are kept: the files are split as
    one byte stream into num_parts ranges of ceil(size / num_parts) bytes, each boundary
    moved past the end of the line it falls in (the line-aligned byte split of MXNet's
    readers, so parts may be uneven)."""
    leading, indptr, cols, vals = [], [0], [], []
    files = []
    for fname in _libsvm_files(path, what):
        try:
            with open(fname, "rb") as handle:
                files.append((fname, handle.read()))
        except OSError as err:
            raise MXNetError("LibSVMIter: cannot read %s %s: %s" % (what, fname, err)) \
                from None
    total = sum(len(raw) for _, raw in files)
    step = -(-total // num_parts)
    lo, hi = part_index * step, min((part_index + 1) * step, total)
    start = 0
    for fname, raw in files:
        begin, end = _aligned(raw, lo - start), _aligned(raw, hi - start)
        start += len(raw)
        lines = raw[begin:end].decode("utf-8", "replace").split("\n")
        first = raw[:begin].count(b"\n") + 1
        for lineno, line in enumerate(lines, first):
            fields = line.split()
            if not fields:
                continue
            where = "LibSVMIter: %s %s line %d" % (what, fname, lineno)
            try:
                leading.append(float(fields[0]))
                last = -1
                for field in fields[1:]:
                    index, sep, value = field.partition(":")
                    if not sep:
                        raise ValueError(field)
                    col = int(index)
                    if not 0 <= col < width:
                        raise MXNetError("%s: feature index %d is out of range [0, %d) "
                                         "(indices are zero-based)" % (where, col, width))
                    if col <= last:
                        raise MXNetError("%s: feature indices must be increasing, got "
                                         "%d after %d" % (where, col, last))
                    last = col
                    cols.append(col)
                    vals.append(float(value))
            except ValueError as err:
                raise MXNetError("%s: cannot parse %r" % (where, str(err))) from None
            indptr.append(len(cols))
    return (np.asarray(leading, np.float32), np.asarray(indptr, _INDEX_DTYPE),
            np.asarray(cols, _INDEX_DTYPE), np.asarray(vals, np.float32))


def _aligned(raw, offset):
    """`offset` in one file's bytes moved past the end of the line it falls in (0 and the
    end stay; offsets outside the file clamp to it)."""
    if offset <= 0:
        return 0
    if offset >= len(raw):
        return len(raw)
    newline = raw.find(b"\n", offset)
    return len(raw) if newline < 0 else newline + 1


class _LibSVMRows:
    """Rows kept in CSR form; a row is expanded to dense only when batched."""

    def __init__(self, indptr, cols, vals, width):
        self.indptr, self.cols, self.vals = indptr, cols, vals
        self.shape = (indptr.shape[0] - 1, width)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, row):
        dense = np.zeros(self.shape[1], np.float32)
        lo, hi = self.indptr[row], self.indptr[row + 1]
        dense[self.cols[lo:hi]] = self.vals[lo:hi]
        return dense


def LibSVMIter(data_libsvm, data_shape, label_libsvm="NULL", label_shape=(1,),  # noqa: N802
               batch_size=None, round_batch=True, num_parts=1, part_index=0, **ignored):
    """MXNet's LibSVMIter: csr batches of LibSVM-style lines with zero-based, increasing
    feature indices. Without `label_libsvm` the label is each line's leading value (a dense
    batch); with it, the label file's features form a csr label of `label_shape`. Only
    round_batch=True, as MXNet: the last batch is completed from the start of the data."""
    from .io import _BatchLoader

    class _Iter(_BatchLoader):
        """The C++ BatchLoader's rules over rows kept in CSR form; batches are csr."""

        def iter_next(self):
            if not _BatchLoader.iter_next(self):
                return False
            data, label, pad, index = self._current
            label = CSRNDArray(label._data, label.context) if sparse_label else label
            self._current = (CSRNDArray(data._data, data.context), label, pad, index)
            return True

        def get_data(self):
            return self.getdata()

    if batch_size is None:
        raise MXNetError("LibSVMIter: batch_size is required")
    if not round_batch:
        raise MXNetError("LibSVMIter: only round_batch=True is supported (as MXNet's)")
    data_shape, label_shape = _shape_tuple(data_shape), _shape_tuple(label_shape)
    if len(data_shape) != 1 or len(label_shape) != 1:
        raise MXNetError("LibSVMIter: data_shape and label_shape must be 1-D, got %s and %s"
                         % (data_shape, label_shape))
    if not (int(num_parts) >= 1 and 0 <= int(part_index) < int(num_parts)):
        raise MXNetError("LibSVMIter: part_index %r must be in [0, num_parts=%r)"
                         % (part_index, num_parts))
    part = (int(num_parts), int(part_index))
    leading, indptr, cols, vals = read_libsvm(data_libsvm, data_shape[0], "data_libsvm", *part)
    n = indptr.shape[0] - 1
    if n == 0:
        raise MXNetError("LibSVMIter: data_libsvm %s has no rows (in part %d of %d)"
                         % (data_libsvm, part_index, num_parts))
    rows = _LibSVMRows(indptr, cols, vals, data_shape[0])
    sparse_label = label_libsvm not in (None, "NULL")
    if sparse_label:
        _, lptr, lcols, lvals = read_libsvm(label_libsvm, label_shape[0], "label_libsvm",
                                            *part)
        if lptr.shape[0] != indptr.shape[0]:
            raise MXNetError("LibSVMIter: label_libsvm %s has %d rows but data_libsvm %s has "
                             "%d" % (label_libsvm, lptr.shape[0] - 1, data_libsvm, n))
        labels = _LibSVMRows(lptr, lcols, lvals, label_shape[0])
        label_rows = np.stack([labels[i] for i in range(n)])
        label_batch = label_shape
    else:
        label_rows = leading.reshape(-1, 1)
        label_batch = () if label_shape == (1,) else label_shape
    return _Iter(data_libsvm, rows, label_rows, batch_size, True, "data", "softmax_label",
                 label_batch)
