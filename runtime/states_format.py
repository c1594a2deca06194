"""MXNet's `.states` files: a pickle of {parameter index: state} whose NDArrays are pickled as
`mxnet.ndarray.ndarray.NDArray` objects holding {'handle': bytearray(V2 record)}, so real
MXNet (`Module.load_optimizer_states`) reads the files mxc writes, and the other way round.
"""
import io
import pickle
import pickletools

import numpy as np

from .base import MXNetError
from .ndarray import NDArray, _record_bytes

_MX_MODULE, _MX_NAME = "mxnet.ndarray.ndarray", "NDArray"


class _MXNetNDArrayClass(object):
    """Stands for MXNet's NDArray class in the pickle stream (never instantiated here)."""


class _MXNetRowSparseClass(object):
    """Stands for MXNet's RowSparseNDArray class in the pickle stream."""


class _MXNetCSRClass(object):
    """Stands for MXNet's CSRNDArray class in the pickle stream."""


# MXNet pickles a sparse array as its own class (mxnet.ndarray.sparse), the record in 'handle'
_MX_SPARSE = {_MXNetRowSparseClass: "RowSparseNDArray", _MXNetCSRClass: "CSRNDArray"}
_SPARSE_STAND_IN = {"row_sparse": _MXNetRowSparseClass, "csr": _MXNetCSRClass}


class _StatesPickler(pickle._Pickler):
    """Pure-Python pickler that writes mxc NDArrays the way MXNet pickles its own."""

    def reducer_override(self, obj):
        if isinstance(obj, NDArray):
            cls = _SPARSE_STAND_IN.get(obj.stype, _MXNetNDArrayClass)
            return (cls, (None,), {"handle": bytearray(_record_bytes(obj))})
        return NotImplemented

    def save_global(self, obj, name=None):
        if obj is _MXNetNDArrayClass or obj in _MX_SPARSE:
            sparse = obj in _MX_SPARSE
            self.save("mxnet.ndarray.sparse" if sparse else _MX_MODULE)
            self.save(_MX_SPARSE[obj] if sparse else _MX_NAME)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def dumps(states):
    """Pickle an optimizer-state dict (values: None, NDArray, or tuples/lists of them)."""
    buf = io.BytesIO()
    _StatesPickler(buf, protocol=4).dump(states)
    return buf.getvalue()


# ---- reading: an allow-list unpickler ------------------------------------------------------
#
# A `.states` file is data. The only globals it may name are the ones MXNet and NumPy use to
# pickle arrays (each behind a wrapper that checks its arguments), the few builtins older
# protocols use for bytes and sets, and mxc's own optimizer and learning-rate-scheduler
# classes (a file dumped with its optimizer). Any other global is refused, never imported.

_MAX_RECONSTRUCT_BYTES = 64         # NumPy pickles an empty placeholder, then fills it
_NUMERIC_KINDS = "biufc"


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""

    def __init__(self, module, name):
        super().__init__("refused global '%s.%s': a .states file may hold array data and "
                         "containers only" % (module, name))


class _BadArgument(pickle.UnpicklingError):
    """An allowed global called with arguments MXNet and NumPy never write."""


def _numeric_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise _BadArgument("dtype %s is not a numeric array type" % dtype)
    return dtype


class _NDArrayToken(object):
    """Stands for numpy.ndarray in the stream: only _reconstruct may use it."""

    def __new__(cls, *args):
        raise _BadArgument("numpy.ndarray cannot be called from a .states file")


def _reconstruct(subtype, shape, dtype):
    if subtype is not _NDArrayToken or not isinstance(shape, tuple) or \
            not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _BadArgument("numpy _reconstruct expects (numpy.ndarray, shape, typecode)")
    size = 1
    for d in shape:
        size *= d
    if size * _numeric_dtype(dtype).itemsize > _MAX_RECONSTRUCT_BYTES:
        raise _BadArgument("numpy _reconstruct asks for shape %s" % (shape,))
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(buf, dtype, shape, order):
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or \
            not isinstance(shape, tuple) or order not in ("C", "F"):
        raise _BadArgument("numpy _frombuffer expects (buffer, dtype, shape, order)")
    return np.frombuffer(buf, dtype=_numeric_dtype(dtype)).reshape(shape, order=order)


def _scalar(dtype, raw=None):
    dtype = _numeric_dtype(dtype)
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise _BadArgument("numpy scalar expects %d bytes of %s" % (dtype.itemsize, dtype))
    return np.frombuffer(raw, dtype)[0].copy()


def _dtype(spec, align=False, copy=False):
    if not isinstance(spec, str):
        raise _BadArgument("numpy dtype expects a type code")
    return _numeric_dtype(spec)


def _latin1(text=None, encoding="latin-1"):
    if text is None:
        return b""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _BadArgument("only latin-1 text encodes to bytes in a .states file")
    return text.encode("latin-1")


def _bytearray(source=b"", encoding=None):
    if isinstance(source, str):
        return bytearray(_latin1(source, encoding or "latin-1"))
    if not isinstance(source, (bytes, bytearray)) or encoding is not None:
        raise _BadArgument("bytearray expects bytes")
    return bytearray(source)


def _collection(kind):
    def build(items=()):
        if not isinstance(items, (list, tuple)):
            raise _BadArgument("%s expects a list" % kind.__name__)
        return kind(items)
    return build


def _complex(real=0.0, imag=0.0):
    if not all(isinstance(x, (int, float)) for x in (real, imag)):
        raise _BadArgument("complex expects two numbers")
    return complex(real, imag)


class _PickledNDArray(object):
    """MXNet's NDArray class in the stream: yields an empty NDArray that BUILD then fills
    from its {'handle': record bytes} state (see NDArray.__setstate__)."""
    _cls = None

    def __new__(cls, *args):
        if len(args) > 1 or (args and args[0] is not None):
            raise _BadArgument("NDArray takes no constructor arguments in a .states file")
        target = cls._cls() if cls._cls is not None else NDArray
        arr = target.__new__(target)
        arr.__setstate__({"handle": None})
        return arr


def _pickled_sparse(name):
    """MXNet's RowSparseNDArray / CSRNDArray class in the stream (see _PickledNDArray)."""
    def target():
        from . import sparse
        return getattr(sparse, name)
    return type("_Pickled" + name, (_PickledNDArray,), {"_cls": staticmethod(target)})


def _reconstructor(cls, base, state):
    """copyreg._reconstructor (protocols 0 and 1) for the allowed classes only."""
    if base is not object or state is not None or not isinstance(cls, type) or \
            not _is_allowed_class(cls):
        raise _BadArgument("copyreg._reconstructor is limited to plain allowed classes")
    return cls.__new__(cls)


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")
_BUILTINS = ("builtins", "__builtin__")
_NDARRAY_MODULES = ("mxnet.ndarray.ndarray", "mxnet.ndarray", "mxc.ndarray")

_ALLOWED = {("numpy", "ndarray"): _NDArrayToken, ("numpy", "dtype"): _dtype,
            ("_codecs", "encode"): _latin1}
_ALLOWED.update({(m, "_reconstruct"): _reconstruct for m in _NUMPY_CORE})
_ALLOWED.update({(m, "scalar"): _scalar for m in _NUMPY_CORE})
_ALLOWED.update({(m, "_frombuffer"): _frombuffer for m in _NUMPY_NUMERIC})
_ALLOWED.update({(m, "NDArray"): _PickledNDArray for m in _NDARRAY_MODULES})
_ALLOWED.update({(m, n): _pickled_sparse(n) for m in ("mxnet.ndarray.sparse", "mxc.sparse")
                 for n in ("RowSparseNDArray", "CSRNDArray")})
for _b in _BUILTINS:
    _ALLOWED.update({(_b, "bytearray"): _bytearray, (_b, "set"): _collection(set),
                     (_b, "frozenset"): _collection(frozenset), (_b, "complex"): _complex,
                     (_b, "object"): object})
_ALLOWED.update({(m, "_reconstructor"): _reconstructor for m in ("copyreg", "copy_reg")})


def _optimizer_class(module, name):
    """mxc's optimizer registered under `name` when `module` is MXNet's or mxc's optimizer
    module, else None."""
    if module not in ("mxc.optimizer", "mxnet.optimizer") and \
            not module.startswith("mxnet.optimizer."):
        return None
    from .optimizer import _OPT_REGISTRY
    klass = _OPT_REGISTRY.get(name.lower())
    return klass if klass is not None and klass.__name__.lower() == name.lower() else None


def _scheduler_class(module, name):
    if module not in ("mxc.lr_scheduler", "mxnet.lr_scheduler"):
        return None
    from . import lr_scheduler
    return getattr(lr_scheduler, name) if name in lr_scheduler.__all__ else None


def _is_allowed_class(cls):
    from . import lr_scheduler
    from .optimizer import Optimizer
    return cls is _PickledNDArray or issubclass(cls, (Optimizer, lr_scheduler.LRScheduler))


class _StatesUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; never imports a module."""

    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            found = _optimizer_class(module, name) or _scheduler_class(module, name)
        if found is None:
            raise RefusedGlobal(module, name)
        return found

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent references are not allowed")


_PUT_OPS = ("PUT", "BINPUT", "LONG_BINPUT")


def _prescan(blob):
    """Walk the opcodes once without building anything: every counted length must fit in
    the bytes that remain (pickletools checks) and every memo index must be one the stream
    could have reached, so the unpickler never allocates for a forged size."""
    slots = 0
    last = None
    for opcode, arg, _pos in pickletools.genops(blob):
        if opcode.name in _PUT_OPS:
            if not isinstance(arg, int) or arg < 0 or arg > slots:
                raise pickle.UnpicklingError("memo index %r out of range" % (arg,))
            slots += 1
        elif opcode.name == "MEMOIZE":
            slots += 1
        last = opcode.name
    if last != "STOP":
        raise pickle.UnpicklingError("pickle data has no STOP opcode")


def loads(blob, source=None):
    """Read a `.states` pickle written by MXNet or mxc; `source` (a file name) goes into
    every error. Only array data and containers are built (see the allow-list above)."""
    where = "optimizer states%s" % (" '%s'" % source if source else "")
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise MXNetError("%s: expected bytes, got %s" % (where, type(blob).__name__))
    blob = bytes(blob)
    try:
        _prescan(blob)
        return _StatesUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except (MXNetError, RefusedGlobal, _BadArgument) as err:
        raise MXNetError("%s: %s" % (where, err)) from None
    except Exception as err:        # any failure while decoding untrusted bytes
        raise MXNetError("%s: cannot unpickle (%s: %s)" % (where, type(err).__name__,
                                                           _short(err))) from None


def _short(err, limit=300):
    text = str(err)
    return text if len(text) <= limit else text[:limit] + "..."
