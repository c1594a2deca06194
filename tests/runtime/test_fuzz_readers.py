"""The reader fuzzer (tools/fuzz/fuzz_readers.py), bounded for CI; MXC_FUZZ_FULL=1 runs
100,000 inputs. It runs in a child process with a capped address space, so a forged size
that reached an allocation shows up as a MemoryError finding instead of exhausting memory."""
import json
import struct
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZER = ROOT / "tools" / "fuzz" / "fuzz_readers.py"
FULL = os.environ.get("MXC_FUZZ_FULL") == "1"


def run_fuzzer(*args, timeout):
    proc = subprocess.run([sys.executable, str(FUZZER)] + list(args), capture_output=True,
                          text=True, timeout=timeout, cwd=str(ROOT))
    assert proc.stdout, proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


def test_mutated_files_only_raise_clear_errors():
    iterations = 100000 if FULL else 2000
    rc, summary = run_fuzzer("--iterations", str(iterations), "--seed", "0", "--bind", "1",
                             "--render", "20", "--memory-mb", "1024",
                             timeout=3600 if FULL else 240)
    assert summary["findings"] == [] and rc == 0
    assert summary["inputs_run"] == iterations
    targets = summary["targets"]
    for name in ("nd.load", "nd.load_frombuffer", "model.load_checkpoint", "states",
                 "sym.load_json(bytes)", "sym.load_json(structural)"):
        # every target saw inputs, and the mutations are neither all fatal nor all harmless
        assert targets[name]["inputs"] > 0
        assert 0 < targets[name]["rejected"] < targets[name]["inputs"], (name, targets[name])
        assert targets[name]["loaded"] > 0 or name == "sym.load_json(bytes)"
    assert targets["symbol_survivors"]["planned"] > 0
    assert targets["symbol_survivors"]["bound"] == 1


def test_fuzzer_reports_a_reader_that_breaks_the_contract(tmp_path):
    """The harness itself: an exception outside the contract, and an allocation past the
    memory cap, are findings (so a clean run means something)."""
    sys.path.insert(0, str(FUZZER.parent))
    try:
        import fuzz_readers
    finally:
        sys.path.pop(0)
    harness = fuzz_readers.Harness(str(tmp_path), 2.0, 0)

    def leaky(data):
        return {}[data]

    def rejects(data):
        raise ValueError("bad")

    harness.run("t", leaky, b"x", lambda: b"x")
    harness.run("t", rejects, b"y", lambda: b"y")
    assert [f["error"] for f in harness.findings] == ["KeyError"]
    assert harness.stats["t"] == {"inputs": 2, "loaded": 0, "rejected": 1}
    code = ("import sys; sys.path.insert(0, %r); import fuzz_readers as f; "
            "f.limit_memory(64); h = f.Harness('.', 5.0, 0); "
            "h.run('t', lambda n: bytearray(n), 1 << 31, lambda: b''); "
            "print(h.findings[0]['error'])" % str(FUZZER.parent))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(tmp_path))
    assert out.stdout.strip() == "MemoryError", out.stderr[-1000:]


# ---- targeted cases for the NDArray-file reader (shared by mx.nd.load and export.read_params)

def header(count):
    return struct.pack("<QQQ", 0x112, 0, count)


def v2_record(shape, flag=0, dev=(1, 0), data=b""):
    return struct.pack("<Iii%dq" % len(shape), 0xF993FAC9, 0, len(shape), *shape) + \
        struct.pack("<iii", dev[0], dev[1], flag) + data


def names(*keys):
    return struct.pack("<Q", len(keys)) + b"".join(struct.pack("<Q", len(k)) + k for k in keys)


FLOATS = np.arange(4, dtype="<f4").tobytes()

BAD_FILES = {
    "array count": header(10 ** 12),
    "names for": header(0) + struct.pack("<Q", 1 << 60),
    "needs 4000000000000 bytes": header(1) + v2_record((10 ** 6, 10 ** 6)) + names(b"arg:w"),
    "needs": header(1) + v2_record((1 << 32, 1 << 32)) + names(b"arg:w"),   # wraps in int64
    "exceeds the limit": header(1) + struct.pack("<Iii", 0xF993FAC9, 0, 33) + b"\x01" * 400,
    "negative ndim": header(1) + struct.pack("<Iii", 0xF993FAC9, 0, -2),
    "negative dimension": header(1) + v2_record((2, -2), data=FLOATS) + names(b"arg:w"),
    "unknown dtype flag 99": header(1) + v2_record((4,), flag=99, data=FLOATS),
    "bfloat16": header(1) + v2_record((4,), flag=12, data=FLOATS),
    "unknown device type 9": header(1) + v2_record((4,), dev=(9, 0), data=FLOATS),
    "negative device id": header(1) + v2_record((4,), dev=(1, -3), data=FLOATS),
    "duplicate entry 'arg:w'": header(2) + v2_record((4,), data=FLOATS) * 2 +
    names(b"arg:w", b"arg:w"),
    "1 names for 2 arrays": header(2) + v2_record((4,), data=FLOATS) * 2 + names(b"arg:w"),
    "is 1099511627776 bytes long": header(1) + v2_record((4,), data=FLOATS) +
    struct.pack("<QQ", 1, 1 << 40),
    "not valid UTF-8": header(1) + v2_record((4,), data=FLOATS) + names(b"\xff"),
    "bad record magic": header(1) + struct.pack("<I", 0xDEADBEEF) + b"\0" * 32,
}


@pytest.mark.parametrize("why", sorted(BAD_FILES))
def test_reader_refuses_forged_headers_naming_the_file(tmp_path, why):
    import mxc as mx
    from mxc.base import MXNetError
    from mxc.compiler import export
    path = tmp_path / "forged.params"
    path.write_bytes(BAD_FILES[why])
    for load in (mx.nd.load, export.read_params):
        with pytest.raises(MXNetError) as info:
            load(str(path))
        assert "forged.params" in str(info.value) and why in str(info.value), str(info.value)
    with pytest.raises(MXNetError, match=why.replace("(", r"\(")):
        mx.nd.load_frombuffer(BAD_FILES[why])


def test_reader_still_reads_v3_scalars_and_none_arrays():
    import mxc as mx
    scalar = struct.pack("<Iii", 0xF993FACA, 0, 0) + struct.pack("<iii", 1, 0, 0) + \
        struct.pack("<f", 2.5)
    none = struct.pack("<Iii", 0xF993FACA, 0, -1)
    out = mx.nd.load_frombuffer(header(2) + scalar + none + names(b"s", b"n"))
    assert out["s"].asnumpy().tolist() == [2.5] and out["n"].size == 0
