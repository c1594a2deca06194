"""mx.recordio: the byte format against hand-built bytes, round trips, pack/unpack, and
damaged files (every truncation, broken length words, random bytes) giving MXNetErrors."""
import pickle
import random
import struct
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

MAGIC = struct.pack("<I", 0xCED7230A)


def chunk(cflag, payload):
    """One chunk built by hand: magic, length word (flag in bits 29..31), payload, padding."""
    word = struct.pack("<I", (cflag << 29) | len(payload))
    return MAGIC + word + payload + b"\0" * (-len(payload) % 4)


def write_all(path, records):
    writer = mx.recordio.MXRecordIO(str(path), "w")
    for rec in records:
        writer.write(rec)
    writer.close()


def read_all(path):
    reader = mx.recordio.MXRecordIO(str(path), "r")
    out = []
    while True:
        rec = reader.read()
        if rec is None:
            break
        out.append(rec)
    reader.close()
    return out


def test_round_trip_and_reset(tmp_path):
    path = tmp_path / "a.rec"
    records = [b"", b"x", b"ab", b"abc", b"abcd", b"abcde", bytes(range(256)) * 3]
    records += [bytes(str(chr(i)), "utf-8") for i in range(255)]
    write_all(path, records)
    reader = mx.recordio.MXRecordIO(str(path), "r")
    assert [reader.read() for _ in records] == records
    assert reader.read() is None and reader.read() is None
    reader.reset()
    assert reader.read() == records[0]
    reader.close()
    assert read_all(path) == records


def test_writer_bytes_match_hand_built(tmp_path):
    path = tmp_path / "b.rec"
    write_all(path, [b"abcde", b"", b"wxyz"])
    expected = MAGIC + struct.pack("<I", 5) + b"abcde\0\0\0" + MAGIC + struct.pack("<I", 0) \
        + MAGIC + struct.pack("<I", 4) + b"wxyz"
    assert path.read_bytes() == expected


@pytest.mark.parametrize("payload, chunks", [
    (b"AAAA" + MAGIC + b"BBBBBB", [(1, b"AAAA"), (3, b"BBBBBB")]),
    (MAGIC + b"xy", [(1, b""), (3, b"xy")]),
    (MAGIC + MAGIC, [(1, b""), (2, b""), (3, b"")]),
    (b"abcd" + MAGIC, [(1, b"abcd"), (3, b"")]),
    (b"12345678" + MAGIC + b"q" + MAGIC, [(1, b"12345678"), (3, b"q" + MAGIC)]),  # unaligned
    (b"ab" + MAGIC + b"cd", [(0, b"ab" + MAGIC + b"cd")]),  # the magic at offset 2: no split
])
def test_magic_in_payload_splits_into_chunks(tmp_path, payload, chunks):
    path = tmp_path / "c.rec"
    write_all(path, [payload, b"next"])
    expected = b"".join(chunk(f, p) for f, p in chunks) + chunk(0, b"next")
    assert path.read_bytes() == expected
    assert read_all(path) == [payload, b"next"]


def test_reader_reads_hand_built_file(tmp_path):
    path = tmp_path / "d.rec"
    path.write_bytes(chunk(0, b"one") + chunk(1, b"AAAA") + chunk(2, b"") + chunk(3, b"BB")
                     + chunk(0, b"last!"))
    assert read_all(path) == [b"one", b"AAAA" + MAGIC + MAGIC + b"BB", b"last!"]


def test_indexed_offsets_keys_and_random_access(tmp_path):
    rec, idx = str(tmp_path / "e.rec"), str(tmp_path / "e.idx")
    writer = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    assert writer.tell() == 0
    payloads = {i: b"r%d" % i * (i % 5) for i in range(40)}
    offsets = []
    for key, buf in payloads.items():
        offsets.append(writer.tell())
        writer.write_idx(key, buf)
    writer.close()
    # offsets are the running sum of 8-byte headers and 4-byte padded payloads
    sizes = [8 + (len(b) + 3) // 4 * 4 for b in payloads.values()]
    assert offsets == list(np.cumsum([0] + sizes[:-1]))
    lines = open(idx).read().splitlines()
    assert lines == ["%d\t%d" % (k, o) for k, o in zip(payloads, offsets)]
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    assert reader.keys == list(payloads)
    keys = list(payloads)
    random.Random(0).shuffle(keys)
    for key in keys:
        assert reader.read_idx(key) == payloads[key]
    reader.seek(7)
    assert reader.read() == payloads[7] and reader.read() == payloads[8]
    with pytest.raises(KeyError, match="99"):
        reader.read_idx(99)
    reader.close()


def test_string_keys(tmp_path):
    rec, idx = str(tmp_path / "s.rec"), str(tmp_path / "s.idx")
    writer = mx.recordio.MXIndexedRecordIO(idx, rec, "w", key_type=str)
    writer.write_idx("cat", b"meow")
    writer.write_idx("dog", b"woof")
    writer.close()
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r", key_type=str)
    assert reader.keys == ["cat", "dog"] and reader.read_idx("dog") == b"woof"


def test_pickle_reopens(tmp_path):
    path = tmp_path / "p.rec"
    write_all(path, [b"first", b"second"])
    reader = mx.recordio.MXRecordIO(str(path), "r")
    assert reader.read() == b"first"
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.read() == b"first" and copy.read() == b"second"
    rec, idx = str(tmp_path / "p2.rec"), str(tmp_path / "p2.idx")
    writer = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    writer.write_idx(5, b"five")
    writer.close()
    indexed = pickle.loads(pickle.dumps(mx.recordio.MXIndexedRecordIO(idx, rec, "r")))
    assert indexed.keys == [5] and indexed.read_idx(5) == b"five"


def test_writer_refuses_bad_input(tmp_path):
    writer = mx.recordio.MXRecordIO(str(tmp_path / "w.rec"), "w")
    with pytest.raises(TypeError, match="bytes"):
        writer.write("text")
    writer.close()
    with pytest.raises(MXNetError, match="after close"):
        writer.write(b"x")
    with pytest.raises(ValueError, match="flag"):
        mx.recordio.MXRecordIO(str(tmp_path / "w.rec"), "a")
    with pytest.raises(MXNetError, match="missing.rec"):
        mx.recordio.MXRecordIO(str(tmp_path / "missing.rec"), "r")


def test_header_layout_and_scalar_label():
    header = mx.recordio.IRHeader(7, 3.5, 2574, 9)
    packed = mx.recordio.pack(header, b"payload")
    # MXNet's header: uint32 flag (0 for a scalar label), float32 label, uint64 id, uint64 id2
    assert packed == struct.pack("<IfQQ", 0, 3.5, 2574, 9) + b"payload"
    got, rest = mx.recordio.unpack(packed)
    assert got == (0, 3.5, 2574, 9) and rest == b"payload"


@pytest.mark.parametrize("nlabel", [1, 2, 5])
def test_vector_label(nlabel):
    label = np.random.RandomState(nlabel).uniform(size=nlabel).astype(np.float32)
    packed = mx.recordio.pack((0, label, 1, 0), b"xyz")
    assert packed[:24] == struct.pack("<IfQQ", nlabel, 0.0, 1, 0)
    assert packed[24:24 + 4 * nlabel] == label.tobytes()
    got, rest = mx.recordio.unpack(packed)
    assert got.flag == nlabel and rest == b"xyz"
    np.testing.assert_array_equal(got.label, label)


def test_unpack_refuses_short_records():
    with pytest.raises(MXNetError, match="shorter than the 24-byte header"):
        mx.recordio.unpack(b"\0" * 10)
    with pytest.raises(MXNetError, match="announces 3 labels"):
        mx.recordio.unpack(struct.pack("<IfQQ", 3, 0, 0, 0) + b"\0" * 8)


# --------------------------------------------------------------------------- damaged files


def expect_error_or_prefix(path, records):
    """Reading a damaged file gives a prefix of `records` and then either the end or an
    MXNetError naming the file; returns True when it raised."""
    reader = mx.recordio.MXRecordIO(str(path), "r")
    got = []
    try:
        while True:
            rec = reader.read()
            if rec is None:
                break
            got.append(rec)
            assert len(got) <= len(records) + 1
    except MXNetError as err:
        assert str(path) in str(err) and "offset" in str(err)
        return got, True
    finally:
        reader.close()
    return got, False


def test_every_truncation(tmp_path):
    records = [b"head", b"AB" * 3 + b"CD" + MAGIC + b"tail!", b"", b"last one"]
    full = tmp_path / "full.rec"
    write_all(full, records)
    data = full.read_bytes()
    ends, pos = [0], 0
    for rec in records:
        pos += len(mx.recordio.encode_record(rec))
        ends.append(pos)
    cut = tmp_path / "cut.rec"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        got, raised = expect_error_or_prefix(cut, records)
        whole = max(i for i, end in enumerate(ends) if end <= size)
        assert got == records[:whole], size
        assert raised == (size not in ends), size
        # skipping over records (headers only) finds the same damage at the same place
        reader = mx.recordio.MXRecordIO(str(cut), "r")
        skipped = 0
        try:
            while reader._skip():
                skipped += 1
            assert not raised and skipped == whole, size
        except MXNetError as err:
            assert raised and skipped == whole and str(cut) in str(err), size
        reader.close()


def test_broken_length_words_and_magic(tmp_path):
    good = chunk(0, b"abcdefgh") + chunk(0, b"xy")
    path = tmp_path / "bad.rec"
    cases = {
        "past the end": MAGIC + struct.pack("<I", (1 << 29) - 1) + b"abcdefgh",
        "bad magic": b"\x0b\x23\xd7\xce" + good[4:],
        "continuation flag 5": MAGIC + struct.pack("<I", (5 << 29) | 8) + good[8:],
        "starts with a continuation": chunk(3, b"abcd") + good,
        "torn": chunk(1, b"abcd") + chunk(0, b"efgh"),
        "cut off": chunk(1, b"abcd"),
        "stray bytes": good + b"\0\0",
    }
    for what, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(MXNetError, match=what):
            read_all(path)


def test_fuzzed_length_words_and_random_bytes(tmp_path):
    records = [bytes(range(i, i + 13)) for i in range(6)] + [b"x" + MAGIC + b"yyy"]
    base = tmp_path / "base.rec"
    write_all(base, records)
    data = base.read_bytes()
    rng = random.Random(1234)
    path = tmp_path / "fuzz.rec"
    for trial in range(300):
        damaged = bytearray(data)
        if trial % 3 == 0:  # a random length word: any header position
            pos = rng.randrange(0, len(data) // 4) * 4
            damaged[pos:pos + 4] = struct.pack("<I", rng.getrandbits(32))
        elif trial % 3 == 1:  # a flipped bit anywhere
            bit = rng.randrange(len(data) * 8)
            damaged[bit // 8] ^= 1 << (bit % 8)
        else:  # random bytes, sometimes after a good magic
            damaged = bytearray(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
            if trial % 2:
                damaged[:4] = MAGIC
        path.write_bytes(bytes(damaged))
        expect_error_or_prefix(path, records)


def test_index_errors(tmp_path):
    rec, idx = tmp_path / "i.rec", tmp_path / "i.idx"
    write_all(rec, [b"abc", b"defg"])
    size = rec.stat().st_size
    for text, what in [("0\t0\n1\t%d\n" % size, "offset %d of key 1 is outside" % size),
                       ("0\t-4\n", "offset -4"), ("0\t6\n", "not 4-byte aligned"),
                       ("0\n", "line 1 is not"), ("zero\t0\n", "line 1 is not"),
                       ("0\t0\nx\ty\n", "line 2 is not")]:
        idx.write_text(text)
        with pytest.raises(MXNetError, match=what) as err:
            mx.recordio.MXIndexedRecordIO(str(idx), str(rec), "r")
        assert str(idx) in str(err.value)
    # an offset inside a record (not at its start) is caught when read, naming the offset
    idx.write_text("0\t0\n1\t4\n")
    reader = mx.recordio.MXIndexedRecordIO(str(idx), str(rec), "r")
    assert reader.read_idx(0) == b"abc"
    with pytest.raises(MXNetError, match="offset 4: bad magic"):
        reader.read_idx(1)


def test_fuzzed_index_files(tmp_path):
    rec, idx = tmp_path / "f.rec", tmp_path / "f.idx"
    write_all(rec, [b"abc", b"defgh", b"ij"])
    good = b"0\t0\n1\t12\n2\t28\n"
    rng = random.Random(99)
    for trial in range(200):
        if trial % 2:
            data = bytearray(good)
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        else:
            data = bytearray(rng.getrandbits(8) for _ in range(rng.randrange(1, 40)))
        idx.write_bytes(bytes(data))
        try:
            reader = mx.recordio.MXIndexedRecordIO(str(idx), str(rec), "r")
        except MXNetError as err:
            assert str(idx) in str(err)
            continue
        for key in reader.keys:  # what opens reads a record or names the offset at fault
            try:
                assert reader.read_idx(key) in (b"abc", b"defgh", b"ij")
            except MXNetError as err:
                assert "offset %d" % reader.idx[key] in str(err)
        reader.close()


def test_image_records_name_the_extra_without_pillow(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MXNetError, match=r"pip install 'mxc\[image\]'"):
        mx.recordio.pack_img((0, 1.0, 0, 0), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(MXNetError, match=r"mxc\[image\]"):
        mx.recordio.unpack_img(mx.recordio.pack((0, 1.0, 0, 0), b"\x89PNG"))
