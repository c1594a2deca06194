"""MXNet's NDArray file format (`.params`, `mx.nd.save`): the one bounded byte-level reader.

Every count, length, ndim, dimension, dtype code and offset is checked against the bytes that
remain and against fixed limits before anything is allocated, so a few header bytes can never
ask for a large allocation. The runtime (mx.nd.load) and the exporter both read through here.

Layout (little-endian): u64 list magic 0x112, u64 reserved, u64 array count, the array
records, u64 name count (0 or the array count), then per name u64 length + UTF-8 bytes.
A record is V2/V3 (u32 magic, i32 storage type, i32 ndim, ndim x i64 dims), V1 (u32 magic,
i32 ndim, i64 dims) or legacy (u32 ndim, u32 dims), then i32 device type, i32 device id,
i32 dtype flag and the raw elements.

A sparse V2/V3 record (storage type 1 row_sparse, 2 csr) has the storage shape (i32 ndim,
i64 dims) before the shape, and after the dtype flag one (i32 type flag, shape) per index
array (row_sparse: the row indices; csr: indptr, then column indices), then the stored
values and the index arrays. Such a record is read into the dense array it stands for, with
its storage type and index arrays kept (`Record.stype`, `Record.aux`).
"""
import struct

import numpy as np

from .errors import MXNetError

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

MAX_NDIM = 32                  # MXNet's legacy reader caps ndim at 32 too
MAX_NAME_BYTES = 1 << 20
DEVICE_TYPES = (1, 2, 3, 5)    # cpu, gpu, cpu_pinned, cpu_shared

FLAG_TO_DTYPE = {
    0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8,
    6: np.int64, 7: np.bool_, 8: np.int16, 9: np.uint16, 10: np.uint32, 11: np.uint64,
}
DTYPE_TO_FLAG = {dtype: flag for flag, dtype in FLAG_TO_DTYPE.items()}
_UNSUPPORTED_FLAGS = {12: "bfloat16"}
_MIN_RECORD_BYTES = 4          # a legacy record of ndim 0 (a "none" array)


class FormatError(MXNetError):
    """A malformed NDArray byte stream; callers add the file name."""


STYPE_NAMES = {0: "default", 1: "row_sparse", 2: "csr"}
STYPE_CODES = {name: code for code, name in STYPE_NAMES.items()}


class Record:
    """One parsed array: shape, NumPy data (None for MXNet's "none" array) and device; for a
    sparse record, data is the dense array it stands for, `stype` its storage type and `aux`
    its index arrays (row_sparse: (indices,); csr: (indptr, indices))."""
    __slots__ = ("shape", "data", "dev_type", "dev_id", "stype", "aux")

    def __init__(self, shape, data, dev_type=1, dev_id=0, stype="default", aux=()):
        self.shape, self.data, self.dev_type, self.dev_id = shape, data, dev_type, dev_id
        self.stype, self.aux = stype, aux

    @property
    def is_none(self):
        return self.data is None


class Reader:
    """Little-endian cursor over bytes that refuses to read past the end."""

    def __init__(self, buf, offset=0):
        self.buf = buf
        self.pos = offset

    def remaining(self):
        return max(len(self.buf) - self.pos, 0)

    def take(self, nbytes, what):
        """Advance over `nbytes` and return their start offset."""
        if nbytes < 0 or nbytes > self.remaining():
            raise FormatError("truncated: need %d bytes for %s at offset %d, only %d left"
                              % (nbytes, what, self.pos, self.remaining()))
        start = self.pos
        self.pos += nbytes
        return start

    def unpack(self, fmt, what):
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.buf, start)


def _check_ndim(ndim):
    if ndim < 0:
        raise FormatError("negative ndim %d" % ndim)
    if ndim > MAX_NDIM:
        raise FormatError("ndim %d exceeds the limit of %d" % (ndim, MAX_NDIM))


def _read_dims(reader, ndim, code):
    _check_ndim(ndim)
    return reader.unpack("<%d%s" % (ndim, code), "shape of %d dims" % ndim) if ndim else ()


def _read_shape(reader):
    """(shape, is_none) from a record header; the reader stops at the device fields."""
    (magic,) = reader.unpack("<I", "record magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        (stype,) = reader.unpack("<i", "storage type")
        if stype != 0:
            raise FormatError("unsupported storage type %d (0 dense, 1 row_sparse, 2 csr)"
                              % stype)
        (ndim,) = reader.unpack("<i", "ndim")
        if magic == V3_MAGIC:       # NumPy-shape files: -1 is "none", 0 is a scalar
            if ndim == -1:
                return (), True
            return _read_dims(reader, ndim, "q"), False
        shape = _read_dims(reader, ndim, "q")
    elif magic == V1_MAGIC:
        (ndim,) = reader.unpack("<i", "ndim")
        shape = _read_dims(reader, ndim, "q")
    elif magic <= MAX_NDIM:         # legacy: the first word is ndim, dims are u32
        shape = _read_dims(reader, magic, "I")
    else:
        raise FormatError("bad record magic 0x%08X" % magic)
    return shape, len(shape) == 0


def _element_count(shape, itemsize, reader):
    """Elements of `shape`, refused before any allocation when the bytes are not there."""
    if any(d < 0 for d in shape):
        raise FormatError("negative dimension in shape %s" % (tuple(shape),))
    count = 1
    for d in shape:                 # Python ints: no overflow, at most MAX_NDIM factors
        count *= d
    if count * itemsize > reader.remaining():
        raise FormatError("truncated: shape %s needs %d bytes of data at offset %d, only %d "
                          "left" % (tuple(shape), count * itemsize, reader.pos,
                                    reader.remaining()))
    return count


def _read_dtype(reader):
    (flag,) = reader.unpack("<i", "type flag")
    dtype = FLAG_TO_DTYPE.get(flag)
    if dtype is None:
        extra = " (%s is not supported)" % _UNSUPPORTED_FLAGS[flag] \
            if flag in _UNSUPPORTED_FLAGS else ""
        raise FormatError("unknown dtype flag %d%s" % (flag, extra))
    return dtype


def _read_i64_shape(reader, what):
    (ndim,) = reader.unpack("<i", "ndim of the %s" % what)
    dims = _read_dims(reader, ndim, "q")
    if any(d < 0 for d in dims):
        raise FormatError("negative dimension in the %s %s" % (what, tuple(dims)))
    return tuple(int(d) for d in dims)


def _read_array(reader, shape, dtype, what):
    le_dtype = np.dtype(dtype).newbyteorder("<")
    count = _element_count(shape, le_dtype.itemsize, reader)
    start = reader.take(count * le_dtype.itemsize, "%s of shape %s" % (what, tuple(shape)))
    return np.frombuffer(reader.buf, le_dtype, count, start).astype(dtype).reshape(shape)


def _read_sparse_record(reader, stype):
    """The rest of a sparse record after its magic and storage type (see the docstring)."""
    name = STYPE_NAMES[stype]
    storage = _read_i64_shape(reader, "storage shape")
    shape = _read_i64_shape(reader, "shape")
    if not shape:
        return Record((), None)
    dev_type, dev_id = reader.unpack("<ii", "context")
    if dev_type not in DEVICE_TYPES:
        raise FormatError("unknown device type %d" % dev_type)
    dtype = _read_dtype(reader)
    aux_shapes = []
    for k in range(2 if name == "csr" else 1):
        flag = _read_dtype(reader)
        if np.dtype(flag).kind not in "iu":
            raise FormatError("%s index array %d has dtype %s, not an integer type"
                              % (name, k, np.dtype(flag).name))
        aux_shapes.append((flag, _read_i64_shape(reader, "index array %d shape" % k)))
    values = _read_array(reader, storage, dtype, "stored values")
    aux = tuple(_read_array(reader, s, t, "index array").astype(np.int64)
                for t, s in aux_shapes)
    if any(a.ndim != 1 for a in aux):
        raise FormatError("%s index arrays must be 1-D, got shapes %s"
                          % (name, [a.shape for a in aux]))
    dense = np.zeros(shape, dtype)
    if name == "row_sparse":
        (rows,) = aux
        if storage[1:] != shape[1:] or storage[:1] != rows.shape:
            raise FormatError("row_sparse storage shape %s does not fit shape %s with %d "
                              "rows stored" % (storage, shape, rows.shape[0]))
        if rows.size and (rows.min() < 0 or rows.max() >= shape[0] or
                          np.any(np.diff(rows) <= 0)):
            raise FormatError("row_sparse row indices must be increasing and below %d"
                              % shape[0])
        dense[rows] = values
    else:
        indptr, cols = aux
        if len(shape) != 2 or len(storage) != 1 or indptr.shape[0] != shape[0] + 1 or \
                cols.shape[0] != storage[0]:
            raise FormatError("csr storage shape %s, indptr of %d and %d column indices do "
                              "not fit shape %s" % (storage, indptr.shape[0], cols.shape[0],
                                                   shape))
        steps = np.diff(indptr)
        if indptr[0] != 0 or indptr[-1] != cols.shape[0] or np.any(steps < 0):
            raise FormatError("csr indptr must rise from 0 to %d" % cols.shape[0])
        row_of = np.repeat(np.arange(shape[0]), steps)
        if cols.size and (cols.min() < 0 or cols.max() >= shape[1] or np.any(
                (row_of[1:] == row_of[:-1]) & (cols[1:] <= cols[:-1]))):
            raise FormatError("csr column indices must be increasing within each row and "
                              "below %d" % shape[1])
        dense[row_of, cols] = values
    return Record(shape, dense, dev_type, dev_id, name, aux)


def read_record(buf, offset):
    """Parse one array record at `offset`; returns (Record, offset after the record)."""
    reader = Reader(buf, offset)
    if reader.remaining() >= 8:
        magic, stype = struct.unpack_from("<Ii", buf, offset)
        if magic in (V2_MAGIC, V3_MAGIC) and stype in (1, 2):
            reader.take(8, "record magic and storage type")
            return _read_sparse_record(reader, stype), reader.pos
    shape, is_none = _read_shape(reader)
    if is_none:
        return Record((), None), reader.pos
    dev_type, dev_id = reader.unpack("<ii", "context")
    if dev_type not in DEVICE_TYPES:
        raise FormatError("unknown device type %d" % dev_type)
    if dev_id < 0:
        raise FormatError("negative device id %d" % dev_id)
    dtype = _read_dtype(reader)
    le_dtype = np.dtype(dtype).newbyteorder("<")
    count = _element_count(shape, le_dtype.itemsize, reader)
    start = reader.take(count * le_dtype.itemsize, "data of shape %s" % (tuple(shape),))
    data = np.frombuffer(buf, le_dtype, count, start).astype(dtype).reshape(shape)
    return Record(tuple(int(d) for d in shape), data, dev_type, dev_id), reader.pos


def _read_records(reader):
    (count,) = reader.unpack("<Q", "array count")
    if count > reader.remaining() // _MIN_RECORD_BYTES:
        raise FormatError("array count %d does not fit in the %d bytes left"
                          % (count, reader.remaining()))
    records = []
    for i in range(count):
        try:
            record, reader.pos = read_record(reader.buf, reader.pos)
        except FormatError as err:
            raise FormatError("record %d: %s" % (i, err)) from None
        records.append(record)
    return records


def _read_names(reader, count):
    (nkeys,) = reader.unpack("<Q", "name count")
    if nkeys not in (0, count):
        raise FormatError("%d names for %d arrays" % (nkeys, count))
    names, seen = [], set()
    for i in range(nkeys):
        (length,) = reader.unpack("<Q", "length of name %d" % i)
        if length > MAX_NAME_BYTES:
            raise FormatError("name %d is %d bytes long (limit %d)" % (i, length,
                                                                       MAX_NAME_BYTES))
        start = reader.take(length, "name %d" % i)
        try:
            name = reader.buf[start:start + length].decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("name %d is not valid UTF-8" % i) from None
        if name in seen:
            raise FormatError("duplicate entry '%s' (name %d)" % (name, i))
        seen.add(name)
        names.append(name)
    return names


def parse(buf):
    """Parse file bytes into (records, names); names is [] when the file has none."""
    reader = Reader(buf)
    magic, _reserved = reader.unpack("<QQ", "file header")
    if magic != LIST_MAGIC:
        raise FormatError("bad magic 0x%X (expected 0x%X): not an NDArray file"
                          % (magic, LIST_MAGIC))
    records = _read_records(reader)
    names = _read_names(reader, len(records))
    if reader.pos != len(buf):
        raise FormatError("%d unexpected trailing bytes" % (len(buf) - reader.pos))
    return records, names


def read_file(path):
    """(records, names) of an NDArray file; every error names the file."""
    try:
        with open(path, "rb") as handle:
            buf = handle.read()
    except OSError as err:
        raise MXNetError("cannot load NDArrays from %s: %s" % (path, err)) from None
    try:
        return parse(buf)
    except FormatError as err:
        raise MXNetError("cannot load NDArrays from %s: %s" % (path, err)) from None
