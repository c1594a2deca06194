"""mx.nd: an NDArray over a C-contiguous numpy array, plus MXNet's .params file format.

An NDArray wraps (never copies) the numpy array it is given, keeping it in `_data`;
in-place writes (`a[:] = x`, `a += x`) go into that same numpy array, so an NDArray
can be a view onto memory owned elsewhere. Every registered operator is also an mx.nd
function (and an NDArray method), run eagerly on NumPy (see nd_ops); mx.nd.random and
mx.nd.linalg are the samplers and the linear algebra operators.
"""
import functools
import os
import struct

import numpy as np

from .base import MXNetError, numeric_types, string_types
from .compiler import paramsfile as _pf
from .compiler.fileio import atomic_write
from .context import Context, current_context

__all__ = ["NDArray", "array", "zeros", "ones", "empty", "full", "arange", "concat",
           "concatenate", "stack", "waitall", "save", "load", "load_frombuffer", "add",
           "subtract", "multiply", "divide", "modulo", "power", "maximum", "minimum", "equal",
           "not_equal", "greater", "greater_equal", "lesser", "lesser_equal"]

# --------------------------------------------------------------------------- dtypes

_DTYPE_TO_FLAG = _pf.DTYPE_TO_FLAG
_FLAG_TO_DTYPE = _pf.FLAG_TO_DTYPE


def _dtype_type(dtype):
    """numpy type class (e.g. numpy.float32) for a dtype given in any numpy-accepted form."""
    if dtype is None:
        return np.float32
    try:
        return np.dtype(dtype).type
    except TypeError:
        raise TypeError("invalid dtype %r" % (dtype,)) from None


def _check_numeric(values, what):
    """Refuse complex, object, string and date data, which MXNet has no dtype for (it would
    otherwise be cast silently, dropping imaginary parts or failing deep inside)."""
    kind = np.asarray(values).dtype.kind if not hasattr(values, "dtype") else np.dtype(
        values.dtype).kind
    if kind not in "biuf":
        raise MXNetError("%s: %s data (dtype %s) is not supported; MXNet arrays hold "
                         "bool, integer or floating-point values"
                         % (what, {"c": "complex", "O": "object", "U": "string", "S": "bytes",
                                   "M": "datetime", "m": "timedelta", "V": "structured"}
                            .get(kind, "non-numeric"), np.asarray(values).dtype))


def _shape_tuple(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


# --------------------------------------------------------------------------- NDArray


class NDArray:
    """An n-dimensional array on a context, backed by a C-contiguous numpy array."""

    __array_priority__ = 1000.0

    def __init__(self, data, ctx=None):
        if isinstance(data, NDArray):
            data = data._data
        if not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if data.ndim == 0:
            data = data.reshape((1,))  # legacy shape semantics: scalars have shape (1,)
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        self._data = data
        self._ctx = Context(ctx) if ctx is not None else current_context()

    # ---- attributes
    @property
    def shape(self):
        """Tuple of dimensions."""
        return tuple(int(d) for d in self._data.shape)

    @property
    def dtype(self):
        """numpy type class of the elements, e.g. numpy.float32."""
        return self._data.dtype.type

    @property
    def size(self):
        """Number of elements."""
        return int(self._data.size)

    @property
    def ndim(self):
        """Number of dimensions."""
        return self._data.ndim

    @property
    def context(self):
        """Context the array lives on."""
        return self._ctx

    ctx = context

    @property
    def stype(self):
        """Storage type: 'default' (dense); see mx.nd.sparse for 'csr' and 'row_sparse'."""
        return "default"

    def tostype(self, stype):
        """A copy in storage type `stype` ('default', 'csr' or 'row_sparse')."""
        from .sparse import cast_storage
        return cast_storage(self, stype)

    @property
    def T(self):
        """Transpose (a copy) of a 2-D array."""
        if self.ndim != 2:
            raise ValueError("T only supports 2-D arrays, got shape %s" % (self.shape,))
        return NDArray(np.ascontiguousarray(self._data.T), self._ctx)

    # ---- conversion
    def asnumpy(self):
        """A numpy copy of the contents."""
        return self._data.copy()

    def asscalar(self):
        """The single element of a size-1 array as a numpy scalar."""
        if self.size != 1:
            raise ValueError("The current array is not a scalar (shape %s)" % (self.shape,))
        return self._data.reshape(-1)[0].copy()

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self._data.copy() if copy else self._data
        return self._data.astype(dtype)

    def copy(self):
        """A deep copy on the same context."""
        return NDArray(self._data.copy(), self._ctx)

    def copyto(self, other):
        """Copy into NDArray `other` (same shape) or onto a new array on Context `other`."""
        if isinstance(other, NDArray):
            if other is self:
                return other
            if other.shape != self.shape:
                raise ValueError("copyto: shape mismatch, source %s vs target %s"
                                 % (self.shape, other.shape))
            if other.stype != "default":
                from .sparse import cast_storage
                return cast_storage(self, other.stype, out=other)
            other._data[...] = self._data
            return other
        if isinstance(other, Context):
            return NDArray(self._data.copy(), other)
        raise TypeError("copyto does not support type %s" % type(other).__name__)

    def as_in_context(self, context):
        """This array if already on `context`, else a copy there."""
        if self._ctx == context:
            return self
        return self.copyto(context)

    def astype(self, dtype, copy=True):
        """The array converted to `dtype` (self when copy=False and dtype is unchanged)."""
        dtype = _dtype_type(dtype)
        if not copy and dtype == self.dtype:
            return self
        return NDArray(self._data.astype(dtype), self._ctx)

    def reshape(self, *shape, **kwargs):
        """A view with a new shape; 0 copies the input dimension, -1 infers one."""
        if "shape" in kwargs:
            shape = kwargs.pop("shape")
        elif len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        if kwargs:
            raise TypeError("reshape got unexpected arguments %s" % sorted(kwargs))
        shape = list(_shape_tuple(shape))
        for i, dim in enumerate(shape):
            if dim == 0:
                if i >= self.ndim:
                    raise ValueError("reshape: 0 at position %d but input has %d dims"
                                     % (i, self.ndim))
                shape[i] = self.shape[i]
        try:
            return NDArray(self._data.reshape(shape), self._ctx)
        except ValueError:
            raise ValueError("cannot reshape array of shape %s into %s"
                             % (self.shape, tuple(shape))) from None

    def wait_to_read(self):
        """Block until pending writes finish (computation is synchronous here)."""

    def wait_to_write(self):
        """Block until pending reads/writes finish (computation is synchronous here)."""

    # ---- reductions used by callers that stay in NDArray land
    # the reductions take `out` as MXNet's operators do, so NumPy's np.sum / np.argmax / ...
    # of an NDArray (which call these methods with out=None) give NDArrays as in MXNet
    def sum(self, axis=None, keepdims=False, out=None):
        """Sum over `axis` (all axes by default)."""
        return _into(out, NDArray(np.asarray(self._data.sum(axis=axis, keepdims=keepdims),
                                             dtype=self.dtype), self._ctx))

    def mean(self, axis=None, keepdims=False, out=None):
        """Mean over `axis` (all axes by default)."""
        return _into(out, NDArray(np.asarray(self._data.mean(axis=axis, keepdims=keepdims),
                                             dtype=self.dtype), self._ctx))

    def max(self, axis=None, keepdims=False, out=None):
        """Maximum over `axis`."""
        return _into(out, NDArray(np.asarray(self._data.max(axis=axis, keepdims=keepdims)),
                                  self._ctx))

    def min(self, axis=None, keepdims=False, out=None):
        """Minimum over `axis`."""
        return _into(out, NDArray(np.asarray(self._data.min(axis=axis, keepdims=keepdims)),
                                  self._ctx))

    def argmax(self, axis=None, keepdims=False, out=None):
        """Indices of maxima along `axis`, as float32 like MXNet."""
        return _into(out, NDArray(np.asarray(self._data.argmax(axis=axis, keepdims=keepdims),
                                             dtype=np.float32), self._ctx))

    def norm(self):
        """L2 norm of all elements, shape (1,)."""
        return NDArray(np.asarray(np.sqrt(np.sum(np.square(self._data, dtype=np.float64))),
                                  dtype=self.dtype), self._ctx)

    # ---- container protocol
    def __len__(self):
        return self.shape[0]

    def __bool__(self):
        if self.size == 0:
            return False
        if self.size == 1:
            return bool(self._data.reshape(-1)[0])
        raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    def __getitem__(self, key):
        if isinstance(key, NDArray):
            key = key._data.astype(np.int64)
        if isinstance(key, (int, np.integer)) and self.ndim == 1:
            n = self.shape[0]
            if not -n <= key < n:
                raise IndexError("index %d is out of bounds for axis 0 with size %d" % (key, n))
            key = int(key) % n
            return NDArray(self._data[key:key + 1], self._ctx)
        return NDArray(self._data[key], self._ctx)

    def __setitem__(self, key, value):
        if isinstance(key, NDArray):
            key = key._data.astype(np.int64)
        if isinstance(value, NDArray):
            value = value._data
        try:
            self._data[key] = value
        except ValueError as err:
            raise ValueError("cannot assign value of shape %s to NDArray%s[%r]: %s"
                             % (np.shape(value), self.shape, key, err)) from None

    # ---- text
    def __repr__(self):
        shape_info = "x".join("%d" % d for d in self.shape)
        return "\n%s\n<%s %s @%s>" % (str(self._data), type(self).__name__, shape_info,
                                      self._ctx)

    __str__ = __repr__

    # ---- pickling (.states files): {'handle': one V2 record}
    def __getstate__(self):
        return {"handle": _record_bytes(self)}

    def __setstate__(self, state):
        handle = state.get("handle") if isinstance(state, dict) else state
        if handle is None:
            self._data = np.empty((0,), np.float32)
            self._ctx = Context("cpu", 0)
            return
        if not isinstance(handle, (bytes, bytearray)):
            raise MXNetError("pickled NDArray: expected {'handle': bytes}, got %s"
                             % type(handle).__name__)
        arr, end = _read_record(bytes(handle), 0)
        if end != len(handle):
            raise MXNetError("pickled NDArray: %d trailing bytes after the record"
                             % (len(handle) - end))
        self._data, self._ctx = arr._data, arr._ctx

    # ---- arithmetic
    def _binary(self, other, fn, reflected=False):
        if isinstance(other, NDArray):
            lhs, rhs = (other._data, self._data) if reflected else (self._data, other._data)
            return NDArray(np.ascontiguousarray(fn(lhs, rhs)), self._ctx)
        if isinstance(other, (numeric_types, np.generic, bool)):
            lhs, rhs = (other, self._data) if reflected else (self._data, other)
            with np.errstate(all="ignore"):
                result = fn(lhs, rhs)
            return NDArray(np.asarray(result).astype(self.dtype, copy=False), self._ctx)
        if isinstance(other, np.ndarray):
            lhs, rhs = (other, self._data) if reflected else (self._data, other)
            return NDArray(np.ascontiguousarray(fn(lhs, rhs)), self._ctx)
        return NotImplemented

    def _inplace(self, other, fn):
        if not isinstance(other, (NDArray, np.ndarray, numeric_types, np.generic, bool)):
            return NotImplemented
        value = other._data if isinstance(other, NDArray) else other
        with np.errstate(all="ignore"):
            self._data[...] = fn(self._data, value)
        return self

    def __add__(self, other):
        return self._binary(other, np.add)

    def __radd__(self, other):
        return self._binary(other, np.add, True)

    def __sub__(self, other):
        return self._binary(other, np.subtract)

    def __rsub__(self, other):
        return self._binary(other, np.subtract, True)

    def __mul__(self, other):
        return self._binary(other, np.multiply)

    def __rmul__(self, other):
        return self._binary(other, np.multiply, True)

    def __truediv__(self, other):
        return self._binary(other, _divide)

    def __rtruediv__(self, other):
        return self._binary(other, _divide, True)

    def __mod__(self, other):
        return self._binary(other, np.mod)

    def __rmod__(self, other):
        return self._binary(other, np.mod, True)

    def __pow__(self, other):
        return self._binary(other, np.power)

    def __rpow__(self, other):
        return self._binary(other, np.power, True)

    def __iadd__(self, other):
        return self._inplace(other, np.add)

    def __isub__(self, other):
        return self._inplace(other, np.subtract)

    def __imul__(self, other):
        return self._inplace(other, np.multiply)

    def __itruediv__(self, other):
        return self._inplace(other, _divide)

    def __imod__(self, other):
        return self._inplace(other, np.mod)

    def __ipow__(self, other):
        return self._inplace(other, np.power)

    def __neg__(self):
        return NDArray(-self._data, self._ctx)

    def __abs__(self):
        return NDArray(np.abs(self._data), self._ctx)

    # comparisons give 1/0 arrays of the operand dtype, like MXNet
    def _compare(self, other, fn):
        if not isinstance(other, (NDArray, np.ndarray, numeric_types, np.generic, bool)):
            return NotImplemented
        value = other._data if isinstance(other, NDArray) else other
        return NDArray(np.ascontiguousarray(fn(self._data, value).astype(self.dtype)), self._ctx)

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__

    # ---- operators as methods: x.clip(0, 1), x.exp(), x.transpose(axes=(1, 0)), ...
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError("'NDArray' object has no attribute %r" % name)
        from .compiler import ops
        if name not in ops.FUNCTIONS:
            raise AttributeError("'NDArray' object has no attribute %r" % name)
        from .nd_ops import invoke

        def method(*args, **kwargs):
            return invoke(name, (self,) + args, kwargs)
        method.__name__ = name
        return method


def _into(out, result):
    """`result`, or `out` (an NDArray of the same shape) holding it."""
    if out is None:
        return result
    if not isinstance(out, NDArray) or out.shape != result.shape:
        raise MXNetError("out must be an NDArray of shape %s, got %r"
                         % (result.shape, getattr(out, "shape", out)))
    out[:] = result.asnumpy()
    return out


def _divide(lhs, rhs):
    """Division keeping integer arrays integer (truncating), like MXNet."""
    lhs_arr, rhs_arr = np.asarray(lhs), np.asarray(rhs)
    if lhs_arr.dtype.kind in "iub" and rhs_arr.dtype.kind in "iub":
        return np.trunc(np.true_divide(lhs_arr, rhs_arr)).astype(np.result_type(lhs_arr,
                                                                                rhs_arr))
    return np.true_divide(lhs, rhs)


# --------------------------------------------------------------------------- creation


def _ctx_or_default(ctx):
    return Context(ctx) if ctx is not None else current_context()


def array(source_array, ctx=None, dtype=None, stype=None):
    """A new NDArray copied from `source_array`; dtype defaults to float32 (or the source
    NDArray's dtype). A sparse source (mx.nd.sparse array, scipy.sparse matrix) gives a
    sparse copy; `stype` casts the result to that storage type."""
    from . import sparse
    if stype not in (None, "default") or isinstance(source_array, sparse.BaseSparseNDArray) \
            or sparse._is_scipy_like(source_array):
        if isinstance(source_array, NDArray) and source_array.stype == "default":
            result = array(source_array, ctx, dtype)
        elif isinstance(source_array, NDArray) or sparse._is_scipy_like(source_array):
            result = sparse.array(source_array, ctx=ctx, dtype=dtype)
        else:
            result = array(source_array, ctx, dtype)
        return result if stype is None else sparse.cast_storage(result, stype)
    if isinstance(source_array, NDArray):
        dtype = source_array.dtype if dtype is None else dtype
        source_array = source_array._data
    _check_numeric(source_array, "mx.nd.array")
    _check_numeric(np.empty(0, _dtype_type(dtype)), "mx.nd.array dtype")
    data = np.array(source_array, dtype=_dtype_type(dtype), order="C", copy=True)
    return NDArray(data, _ctx_or_default(ctx))


def empty(shape, ctx=None, dtype=None, stype=None):
    """An uninitialized array (an empty sparse one for stype 'csr' / 'row_sparse')."""
    if stype not in (None, "default"):
        from .sparse import empty as sparse_empty
        return sparse_empty(stype, shape, ctx=ctx, dtype=dtype)
    return NDArray(np.empty(_shape_tuple(shape), _dtype_type(dtype)), _ctx_or_default(ctx))


def zeros(shape, ctx=None, dtype=None, stype=None, **kwargs):
    """An array of zeros (a sparse one with nothing stored for stype 'csr'/'row_sparse')."""
    if stype not in (None, "default"):
        from .sparse import zeros as sparse_zeros
        return sparse_zeros(stype, shape, ctx=ctx, dtype=dtype)
    return NDArray(np.zeros(_shape_tuple(shape), _dtype_type(dtype)), _ctx_or_default(ctx))


def ones(shape, ctx=None, dtype=None, **kwargs):
    """An array of ones."""
    return NDArray(np.ones(_shape_tuple(shape), _dtype_type(dtype)), _ctx_or_default(ctx))


def full(shape, val, ctx=None, dtype=np.float32, out=None):
    """An array filled with `val` (written into `out` when given)."""
    if out is not None:
        out[:] = val
        return out
    return NDArray(np.full(_shape_tuple(shape), val, _dtype_type(dtype)), _ctx_or_default(ctx))


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None,
           dtype=np.float32):
    """Evenly spaced values in [start, stop), each repeated `repeat` times."""
    values = np.arange(start, stop, step, dtype=np.float64) if stop is not None else \
        np.arange(0, start, step, dtype=np.float64)
    if repeat != 1:
        values = np.repeat(values, int(repeat))
    return NDArray(values.astype(_dtype_type(dtype)), _ctx_or_default(ctx))


def concat(*arrays, **kwargs):
    """Join NDArrays along `dim` (default 1)."""
    dim = kwargs.pop("dim", 1)
    kwargs.pop("num_args", None)
    if kwargs:
        raise TypeError("concat got unexpected arguments %s" % sorted(kwargs))
    if not arrays:
        raise ValueError("concat needs at least one array")
    ctx = arrays[0].context
    return NDArray(np.concatenate([a._data for a in arrays], axis=dim), ctx)


def concatenate(arrays, axis=0, always_copy=True):
    """Join a list of NDArrays along `axis`; returns the only array when always_copy=False."""
    if not arrays:
        raise ValueError("concatenate needs at least one array")
    if not always_copy and len(arrays) == 1:
        return arrays[0]
    first = arrays[0]
    for i, arr in enumerate(arrays):
        if arr.dtype != first.dtype:
            raise ValueError("concatenate: array %d has dtype %s, array 0 has %s"
                             % (i, arr.dtype.__name__, first.dtype.__name__))
        if arr.shape[:axis] + arr.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]:
            raise ValueError("concatenate: array %d has shape %s, incompatible with %s on axis %d"
                             % (i, arr.shape, first.shape, axis))
    return NDArray(np.concatenate([a._data for a in arrays], axis=axis), first.context)


def stack(*arrays, **kwargs):
    """Join NDArrays of one shape along a new axis `axis` (default 0)."""
    axis = kwargs.pop("axis", 0)
    kwargs.pop("num_args", None)
    kwargs.pop("name", None)
    out = kwargs.pop("out", None)
    if kwargs:
        raise TypeError("stack got unexpected arguments %s" % sorted(kwargs))
    if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)):
        arrays = tuple(arrays[0])
    if not arrays:
        raise MXNetError("stack needs at least one array")
    for i, arr in enumerate(arrays):
        if not isinstance(arr, NDArray):
            raise TypeError("stack: argument %d is a %s, not an NDArray" % (i, type(arr).__name__))
        if arr.shape != arrays[0].shape:
            raise MXNetError("stack: array %d has shape %s, array 0 has %s"
                             % (i, arr.shape, arrays[0].shape))
    if not -arrays[0].ndim - 1 <= axis <= arrays[0].ndim:
        raise MXNetError("stack: axis %d is out of range for %d-D arrays"
                         % (axis, arrays[0].ndim))
    value = np.stack([a._data for a in arrays], axis=axis)
    if out is not None:
        out[:] = value
        return out
    return NDArray(value, arrays[0].context)


def _elementwise(fn, lhs, rhs):
    """fn of two NDArrays or numbers (NumPy broadcasting), as MXNet's mx.nd.add & co."""
    if isinstance(lhs, NDArray):
        return lhs._binary(rhs, fn)
    if isinstance(rhs, NDArray):
        return rhs._binary(lhs, fn, reflected=True)
    return fn(lhs, rhs)


def _comparison(fn, lhs, rhs):
    if isinstance(lhs, NDArray):
        return lhs._compare(rhs, fn)
    if isinstance(rhs, NDArray):
        return NDArray(np.ascontiguousarray(fn(lhs, rhs._data).astype(rhs.dtype)), rhs.context)
    return 1 if fn(lhs, rhs) else 0


def add(lhs, rhs):
    """lhs + rhs with broadcasting."""
    return _elementwise(np.add, lhs, rhs)


def subtract(lhs, rhs):
    """lhs - rhs with broadcasting."""
    return _elementwise(np.subtract, lhs, rhs)


def multiply(lhs, rhs):
    """lhs * rhs with broadcasting."""
    return _elementwise(np.multiply, lhs, rhs)


def divide(lhs, rhs):
    """lhs / rhs with broadcasting (integer arrays truncate)."""
    return _elementwise(_divide, lhs, rhs)


def modulo(lhs, rhs):
    """lhs % rhs with broadcasting."""
    return _elementwise(np.mod, lhs, rhs)


def power(base, exp):
    """base ** exp with broadcasting."""
    return _elementwise(np.power, base, exp)


def maximum(lhs, rhs):
    """Element-wise maximum with broadcasting."""
    return _elementwise(np.maximum, lhs, rhs)


def minimum(lhs, rhs):
    """Element-wise minimum with broadcasting."""
    return _elementwise(np.minimum, lhs, rhs)


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """MXNet's split_v2 (see mx.sym.split_v2), computed eagerly."""
    from .compiler.ops.shape_ops import split_v2_params
    from .nd_ops import invoke
    params = dict(split_v2_params(indices_or_sections), axis=axis, squeeze_axis=squeeze_axis)
    return invoke("_split_v2", (ary,), params)


def equal(lhs, rhs):
    """1 where lhs == rhs, else 0."""
    return _comparison(np.equal, lhs, rhs)


def not_equal(lhs, rhs):
    """1 where lhs != rhs, else 0."""
    return _comparison(np.not_equal, lhs, rhs)


def greater(lhs, rhs):
    """1 where lhs > rhs, else 0."""
    return _comparison(np.greater, lhs, rhs)


def greater_equal(lhs, rhs):
    """1 where lhs >= rhs, else 0."""
    return _comparison(np.greater_equal, lhs, rhs)


def lesser(lhs, rhs):
    """1 where lhs < rhs, else 0."""
    return _comparison(np.less, lhs, rhs)


def lesser_equal(lhs, rhs):
    """1 where lhs <= rhs, else 0."""
    return _comparison(np.less_equal, lhs, rhs)


def waitall():
    """Wait for all pending computation (computation is synchronous here)."""


_NAMESPACES = {"random": "random", "linalg": "linalg", "op": "nd_ops", "sparse": "sparse",
               "contrib": "ndarray_contrib", "_internal": "ndarray_internal"}
_SPARSE_FUNCTIONS = {"cast_storage": "cast_storage", "retain": "retain",
                     "_sparse_retain": "retain"}


def _sampler(name):
    """MXNet's flat sampler names: mx.nd.random_uniform, mx.nd.sample_normal, ..."""
    for prefix in ("random_", "_random_", "sample_", "_sample_"):
        if name.startswith(prefix):
            from . import random
            base = name[len(prefix):]
            flat = random.flat_sampler(prefix, base)
            if flat is not None:
                return flat
            if base in random.__all__ and base not in ("seed", "next_c_seed"):
                return getattr(random, base)
    return None


def __getattr__(name):
    """mx.nd.<Operator> for every registered operator and alias; mx.nd.random, mx.nd.linalg."""
    import importlib
    if name in _NAMESPACES:
        module = importlib.import_module("." + _NAMESPACES[name], __package__)
        globals()[name] = module
        return module
    if name in _SPARSE_FUNCTIONS:
        from . import sparse
        return getattr(sparse, _SPARSE_FUNCTIONS[name])
    sampler = _sampler(name)
    if sampler is not None:
        return sampler
    from .compiler import ops
    if name in ops.FUNCTIONS:
        from .nd_ops import function
        fn = function(name)
        globals()[name] = fn
        return fn
    raise AttributeError("module 'mxc.ndarray' has no operator or attribute %r" % name)


def __dir__():
    from .compiler import ops
    return sorted(set(globals()) | set(ops.FUNCTIONS) | set(_NAMESPACES))


# --------------------------------------------------------------------------- binary format

_LIST_MAGIC = _pf.LIST_MAGIC
_V2_MAGIC = _pf.V2_MAGIC

_FormatError = _pf.FormatError      # a malformed byte stream; load() adds the file name
_Reader = _pf.Reader


def _record_bytes(arr):
    """One V2 array record (section 3.2) for a dense NDArray."""
    if not isinstance(arr, NDArray):
        raise TypeError("expected an NDArray, got %s" % type(arr).__name__)
    if arr.stype != "default":
        from .sparse import record_bytes
        return record_bytes(arr)
    flag = _DTYPE_TO_FLAG.get(arr.dtype)
    if flag is None:
        raise MXNetError("cannot save an NDArray of dtype %s" % np.dtype(arr.dtype).name)
    shape = arr.shape
    ctx = arr.context
    head = struct.pack("<Iii%dq" % len(shape), _V2_MAGIC, 0, len(shape), *shape)
    tail = struct.pack("<iii", ctx.device_typeid, ctx.device_id, flag)
    data = np.ascontiguousarray(arr._data).astype(np.dtype(arr.dtype).newbyteorder("<"),
                                                  copy=False)
    return head + tail + data.tobytes()


@functools.lru_cache(maxsize=None)
def _visible_gpus():
    from .context import num_gpus
    return num_gpus()


def _load_context(dev_type, dev_id):
    if dev_type == 2 and dev_id >= _visible_gpus():
        return Context("cpu", 0)
    return Context(Context.devtype2str[dev_type], dev_id)


def _as_ndarray(record):
    if record.is_none:
        return NDArray(np.empty((0,), np.float32), Context("cpu", 0))
    if record.stype != "default":
        from .sparse import from_record
        return from_record(record, _load_context(record.dev_type, record.dev_id))
    return NDArray(record.data, _load_context(record.dev_type, record.dev_id))


def _read_record(buf, offset):
    """Parse one array record at `offset`; returns (NDArray, offset after the record)."""
    record, end = _pf.read_record(buf, offset)
    return _as_ndarray(record), end


def _serialize(data):
    """The complete file bytes for `data` (NDArray, list of NDArrays or dict str->NDArray)."""
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        keys, arrays = list(data.keys()), list(data.values())
        if any(not isinstance(k, string_types) for k in keys) or \
                any(not isinstance(v, NDArray) for v in arrays):
            raise TypeError("save only accept dict str->NDArray or list of NDArray")
    elif isinstance(data, (list, tuple)):
        keys, arrays = [], list(data)
        if any(not isinstance(v, NDArray) for v in arrays):
            raise TypeError("save only accept dict str->NDArray or list of NDArray")
    else:
        raise ValueError("data needs to either be a NDArray, dict of str, NDArray pairs "
                         "or a list of NDarrays.")
    parts = [struct.pack("<QQQ", _LIST_MAGIC, 0, len(arrays))]
    parts.extend(_record_bytes(a) for a in arrays)
    parts.append(struct.pack("<Q", len(keys)))
    for key in keys:
        raw = key.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def _deserialize(buf):
    """Parse file bytes into a list (no names) or dict of NDArrays."""
    records, names = _pf.parse(buf)
    arrays = [_as_ndarray(r) for r in records]
    if not names:
        return arrays
    return dict(zip(names, arrays))


def save(fname, data):
    """Write NDArrays to `fname` in MXNet's binary format (atomically)."""
    payload = _serialize(data)
    atomic_write(fname, payload)


def load_frombuffer(buf):
    """Parse MXNet NDArray-file bytes; a list, or a dict when the file has names."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError("load_frombuffer expects bytes, got %s" % type(buf).__name__)
    try:
        return _deserialize(bytes(buf))
    except _FormatError as err:
        raise MXNetError("cannot load NDArrays from buffer: %s" % err) from None


def load(fname):
    """Read an MXNet NDArray file; a list, or a dict name -> NDArray when it has names."""
    fname = os.fspath(fname)
    try:
        with open(fname, "rb") as handle:
            buf = handle.read()
    except OSError as err:
        raise MXNetError("cannot load NDArrays from %s: %s" % (fname, err)) from None
    try:
        return _deserialize(buf)
    except _FormatError as err:
        raise MXNetError("cannot load NDArrays from %s: %s" % (fname, err)) from None


def _unpickle(raw):
    """Unpickle bytes written by MXNet or mxc that may contain NDArrays (e.g. .states):
    only array data and plain containers (see states_format)."""
    from .states_format import loads
    return loads(raw)


# mx.nd.sparse is importable as a submodule too, as in MXNet (`from mxnet.ndarray.sparse
# import CSRNDArray`): this module acts as a package holding the one sparse module
__path__ = []
from . import sparse as _sparse_module  # noqa: E402  (sparse imports the names above)
import sys as _sys  # noqa: E402
_sys.modules[__name__ + ".sparse"] = _sparse_module
