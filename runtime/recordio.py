"""RecordIO: MXNet's record file format (`.rec`, with an optional `.idx` index).

Byte layout (little endian, as dmlc-core writes it): each record is one or more chunks
``[magic 0xced7230a][lrec][payload][zero padding to 4 bytes]`` where ``lrec`` holds the
continuation flag in its top 3 bits (0: whole record, 1: first chunk, 2: middle chunk,
3: last chunk) and the chunk's length in its low 29 bits. A payload that contains the magic
word at a 4-byte aligned position is split there: the magic itself is not stored, and the
reader puts it back between the chunks. An index file has one ``key<TAB>offset`` line per
record.

Readers check every header and length against the file's size before reading or
allocating: a torn record, a bad magic, a length past the end of the file or an index
offset outside the file is an MXNetError naming the file and the offset.
"""
import numbers
import os
import struct
from collections import namedtuple
from multiprocessing import current_process

import numpy as np

from .base import MXNetError

__all__ = ["MXRecordIO", "MXIndexedRecordIO", "IRHeader", "pack", "unpack", "pack_img",
           "unpack_img"]

_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_LEN_BITS = 29
_LEN_MASK = (1 << _LEN_BITS) - 1
_MAX_RECORD = 1 << _LEN_BITS
# Chunk flags: a whole record, the first, a middle and the last chunk of a split record.
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3


def _lrec(cflag, length):
    """The length word: continuation flag in the top bits, length in the low 29 bits."""
    return (cflag << _LEN_BITS) | length


def _pad4(length):
    return (length + 3) & ~3


def encode_record(buf):
    """The bytes one record `buf` occupies in a `.rec` file (all of its chunks)."""
    buf = bytes(buf)
    size = len(buf)
    if size >= _MAX_RECORD:
        raise MXNetError("RecordIO: a record holds less than 2^29 bytes; got %d" % size)
    parts = []
    start = 0
    for i in range(0, size & ~3, 4):
        if buf[i:i + 4] == _MAGIC_BYTES:
            parts.append(struct.pack("<II", _MAGIC, _lrec(_FIRST if start == 0 else _MIDDLE,
                                                          i - start)))
            parts.append(buf[start:i])
            start = i + 4
    parts.append(struct.pack("<II", _MAGIC, _lrec(_LAST if start else _WHOLE, size - start)))
    parts.append(buf[start:])
    parts.append(b"\0" * (_pad4(size) - size))
    return b"".join(parts)


class MXRecordIO:
    """Sequential reader ('r') or writer ('w') of a RecordIO file.

    `write(buf)` appends one record (bytes); `read()` returns the next record, or None at
    the end of the file; `reset()` goes back to the first record (a writer starts the file
    again, empty).
    """

    def __init__(self, uri, flag):
        self.uri = str(uri)
        self.flag = flag
        self.pid = None
        self.is_open = False
        self.writable = None
        self._file = None
        self.open()

    def open(self):
        """Opens the record file."""
        if self.flag == "w":
            mode, self.writable = "wb", True
        elif self.flag == "r":
            mode, self.writable = "rb", False
        else:
            raise ValueError("Invalid flag %s" % self.flag)
        try:
            self._file = open(self.uri, mode)
        except OSError as err:
            raise MXNetError("RecordIO: cannot open %s for %s: %s"
                             % (self.uri, "writing" if self.writable else "reading",
                                err.strerror or err)) from None
        self.pid = current_process().pid
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def __getstate__(self):
        """Pickles the path and flag; the copy opens the file again (the original is
        closed first, as MXNet's, so that a writer's records reach the file)."""
        is_open = self.is_open
        self.close()
        state = dict(self.__dict__)
        state["is_open"] = is_open
        state["_file"] = None
        return state

    def __setstate__(self, state):
        self.__dict__ = state
        is_open = state["is_open"]
        self.is_open = False
        self._file = None
        if is_open:
            self.open()

    def _check_pid(self, allow_reset=False):
        """A handle opened in another process is reopened (allow_reset) or refused."""
        if self.pid != current_process().pid:
            if allow_reset:
                self.reset()
            else:
                raise RuntimeError("Forbidden operation in multiple processes")

    def _check_open(self, what):
        if not self.is_open:
            raise MXNetError("RecordIO: %s on %s after close()" % (what, self.uri))

    def close(self):
        """Closes the record file."""
        if not self.is_open:
            return
        self._file.close()
        self._file = None
        self.is_open = False
        self.pid = None

    def reset(self):
        """Back to the first record; a writer truncates the file to empty."""
        self.close()
        self.open()

    def write(self, buf):
        """Appends `buf` (bytes) as one record."""
        assert self.writable
        self._check_open("write")
        self._check_pid(allow_reset=False)
        if isinstance(buf, str):
            raise TypeError("MXRecordIO.write takes bytes, not str (encode the text first)")
        self._file.write(encode_record(memoryview(buf).cast("B")))

    def tell(self):
        """The current byte offset in the file (where the next record starts)."""
        self._check_open("tell")
        return self._file.tell()

    def _fail(self, offset, what):
        raise MXNetError("RecordIO: invalid record file %s at offset %d: %s"
                         % (self.uri, offset, what))

    def read(self):
        """The next record as bytes, or None at the end of the file."""
        assert not self.writable
        self._check_open("read")
        self._check_pid(allow_reset=False)
        return self._next_record(skip=False)

    def _skip(self):
        """Moves past the next record, checking its headers without reading its payload;
        False at the end of the file."""
        self._check_open("read")
        return self._next_record(skip=True) is not None

    def _next_record(self, skip):
        fobj = self._file
        size = os.fstat(fobj.fileno()).st_size
        start = fobj.tell()
        parts = []
        expect_first = True
        while True:
            pos = fobj.tell()
            header = fobj.read(8)
            if not header and expect_first:
                return None
            if len(header) < 8:
                if expect_first:
                    self._fail(pos, "%d stray bytes after the last record" % len(header))
                self._fail(pos, "the record that starts at offset %d is cut off (its next "
                                "chunk is missing)" % start)
            magic, lrec = struct.unpack("<II", header)
            if magic != _MAGIC:
                self._fail(pos, "bad magic 0x%08x (expected 0x%08x)" % (magic, _MAGIC))
            cflag, length = lrec >> _LEN_BITS, lrec & _LEN_MASK
            if cflag > _LAST:
                self._fail(pos, "bad length word 0x%08x (continuation flag %d)" % (lrec, cflag))
            if expect_first and cflag not in (_WHOLE, _FIRST):
                self._fail(pos, "a record starts with a continuation chunk (flag %d)" % cflag)
            if not expect_first and cflag not in (_MIDDLE, _LAST):
                self._fail(pos, "the record that starts at offset %d is torn: flag %d "
                                "where a continuation chunk belongs" % (start, cflag))
            padded = _pad4(length)
            if pos + 8 + padded > size:
                self._fail(pos, "a chunk of %d bytes runs past the end of the file (%d bytes)"
                           % (length, size))
            if skip:
                fobj.seek(padded, os.SEEK_CUR)
            else:
                data = fobj.read(padded)
                if len(data) != padded:
                    self._fail(pos, "the file ended inside a chunk")
                parts.append(data[:length])
            if cflag in (_WHOLE, _LAST):
                return b"" if skip else _MAGIC_BYTES.join(parts)
            expect_first = False

    def _seek(self, pos):
        self._file.seek(pos)


class MXIndexedRecordIO(MXRecordIO):
    """RecordIO with random access through an index file of ``key<TAB>offset`` lines.

    `write_idx(key, buf)` writes a record and its index line; `read_idx(key)` reads the
    record of `key`; `keys` lists the keys in file order.
    """

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path = str(idx_path)
        self.idx = {}
        self.keys = []
        self.key_type = key_type
        self.fidx = None
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx = {}
        self.keys = []
        try:
            self.fidx = open(self.idx_path, self.flag)
        except OSError as err:
            super().close()
            raise MXNetError("RecordIO: cannot open index %s: %s"
                             % (self.idx_path, err.strerror or err)) from None
        if not self.writable:
            self._load_index()

    def _load_index(self):
        size = os.fstat(self._file.fileno()).st_size
        try:
            lines = self.fidx.read().splitlines()
        except UnicodeDecodeError as err:
            raise MXNetError("RecordIO: index %s is not text: %s" % (self.idx_path, err)) \
                from None
        for lineno, line in enumerate(lines, 1):
            fields = line.strip().split("\t")
            if fields == [""]:
                continue
            try:
                if len(fields) != 2:
                    raise ValueError("expected key<TAB>offset")
                key = self.key_type(fields[0])
                offset = int(fields[1])
            except ValueError as err:
                raise MXNetError("RecordIO: index %s line %d is not 'key<TAB>offset': %r (%s)"
                                 % (self.idx_path, lineno, line[:80], err)) from None
            if offset < 0 or offset >= size or offset % 4:
                raise MXNetError("RecordIO: index %s line %d: offset %d of key %s is outside "
                                 "the record file %s (%d bytes) or not 4-byte aligned"
                                 % (self.idx_path, lineno, offset, key, self.uri, size))
            self.idx[key] = offset
            self.keys.append(key)

    def close(self):
        """Closes the record file and the index."""
        if not self.is_open:
            return
        super().close()
        self.fidx.close()
        self.fidx = None

    def __getstate__(self):
        state = super().__getstate__()
        state["fidx"] = None
        return state

    def seek(self, idx):
        """Moves the read position to the record of key `idx`."""
        assert not self.writable
        self._check_open("seek")
        self._check_pid(allow_reset=True)
        if idx not in self.idx:
            raise KeyError("RecordIO: key %r is not in the index %s" % (idx, self.idx_path))
        self._seek(self.idx[idx])

    def read_idx(self, idx):
        """The record of key `idx`."""
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        """Writes `buf` as the record of key `idx` and its index line."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.write("%s\t%d\n" % (str(key), pos))
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])
IRHeader.__doc__ = """Header of an image record: flag (the label count when the label is a
vector, else 0), label (a float or a float32 vector), id and id2 (integers)."""

_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s):
    """An image record: the header (and a vector label as float32s) followed by `s`."""
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32).ravel()
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    try:
        head = struct.pack(_IR_FORMAT, *header)
    except struct.error as err:
        raise MXNetError("recordio.pack: header %s does not fit MXNet's record header "
                         "(flag uint32, label float32, id and id2 uint64): %s"
                         % (tuple(header), err)) from None
    return head + bytes(s)


def unpack(s):
    """(IRHeader, payload) of an image record made by `pack`."""
    s = bytes(s)
    if len(s) < _IR_SIZE:
        raise MXNetError("recordio.unpack: a record of %d bytes is shorter than the %d-byte "
                         "header" % (len(s), _IR_SIZE))
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        if header.flag * 4 > len(s):
            raise MXNetError("recordio.unpack: the header announces %d labels (%d bytes) but "
                             "only %d bytes follow it" % (header.flag, header.flag * 4, len(s)))
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4:]
    return header, s


def unpack_img(s, iscolor=-1):
    """(IRHeader, image) of a record made by `pack_img`; the image is a uint8 NumPy array in
    OpenCV's layout (BGR channels; iscolor -1: as stored, 0: grayscale (H, W), 1: (H, W, 3))."""
    from . import image
    header, s = unpack(s)
    return header, image._decode_bgr(s, iscolor)


def pack_img(header, img, quality=95, img_fmt=".jpg"):
    """An image record of `img` (uint8 NumPy array, OpenCV's BGR layout) encoded as JPEG
    (quality 1..100), PNG (quality = compression level 0..9) or '.raw' (uncompressed RGB or
    grey pixels after a b"RAW8" + height, width, channels uint32 header; mxc reads them, the
    exported C trainer too, MXNet does not)."""
    from . import image
    return pack(header, image._encode_bgr(img, quality, img_fmt))
