"""Saves are atomic: a writer killed with -9 mid-save leaves the previous file loadable, and the
next write into that folder sweeps the temp file it left; a full disk is a clear error."""
import errno
import fcntl
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mxc as mx
from mxc.compiler import fileio

TRIALS = int(os.environ.get("MXC_KILL_TRIALS", "5"))

# Writes checkpoints (4 MiB of weights) and an NDArray file in a loop; every array of save
# number i is filled with i, so a file mixing two saves is detected.
WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import mxc as mx
    prefix, i = sys.argv[1], int(sys.argv[2])
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=512, name="fc")
    while True:
        args = {"fc_weight": mx.nd.array(np.full((512, 2048), i, np.float32)),
                "fc_bias": mx.nd.array(np.full((512,), i, np.float32))}
        mx.model.save_checkpoint(prefix, 1, net, args, {})
        mx.nd.save(prefix + ".nd", [mx.nd.array(np.full((300000,), i, np.float32))])
        print(i, flush=True)
        i += 1
""")


def _temps(folder):
    return sorted(f for f in os.listdir(folder)
                  if f.startswith(".tmp-") and f != ".tmp-notes.txt")


def _check_loads(prefix, at_most):
    """Both files load whole, each from one save no newer than at_most; returns their save
    numbers."""
    sym, args, aux = mx.model.load_checkpoint(prefix, 1)
    assert sym.list_arguments() == ["data", "fc_weight", "fc_bias"] and aux == {}
    w, b = args["fc_weight"].asnumpy(), args["fc_bias"].asnumpy()
    assert w.shape == (512, 2048) and b.shape == (512,)
    v = w.flat[0]
    assert (w == v).all() and (b == v).all() and v <= at_most
    (x,) = mx.nd.load(prefix + ".nd")
    x = x.asnumpy()
    assert x.shape == (300000,) and (x == x[0]).all() and x[0] <= at_most
    return int(v), int(x[0])


def test_save_killed_with_sigkill_keeps_the_previous_file(tmp_path):
    rng = random.Random(20240607)
    prefix = str(tmp_path / "net")
    killed_mid_write = 0
    for trial in range(TRIALS):
        first = trial * 1000
        proc = subprocess.Popen([sys.executable, "-c", WRITER, prefix, str(first)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == str(first)   # one whole save done
            time.sleep(rng.uniform(0.0, 0.12))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done = [int(line) for line in proc.stdout.read().split()] or [first]
        killed_mid_write += bool(_temps(tmp_path))
        _check_loads(prefix, at_most=max(done) + 1)
        # the next write (in this process) sweeps what the killed writer left
        mx.nd.save(prefix + ".nd", [mx.nd.array(np.full((300000,), -1, np.float32))])
        assert _temps(tmp_path) == []
    print("%d of %d kills left a temp file behind" % (killed_mid_write, TRIALS))


def test_stale_temp_files_are_swept_live_ones_kept(tmp_path, hold_lock):
    """Dead writers' temp files go (this version's and an earlier one's mkstemp names); a live
    writer's stays, and so does a user's file that merely starts with ".tmp-"."""
    (tmp_path / ".tmp-mxc-dead1234").write_bytes(b"x" * 1000)
    (tmp_path / ".tmp-k3j4h5g6").write_bytes(b"x" * 1000)
    (tmp_path / ".tmp-notes.txt").write_text("the user's")
    holder = hold_lock(tmp_path / ".tmp-mxc-live5678")
    try:
        fileio.atomic_write(tmp_path / "out.bin", b"new")
        assert _temps(tmp_path) == [".tmp-mxc-live5678"]
    finally:
        holder.stdin.close()
        holder.wait()
    fileio.atomic_write(tmp_path / "out.bin", b"newer")
    assert _temps(tmp_path) == []
    assert (tmp_path / "out.bin").read_bytes() == b"newer"
    assert (tmp_path / ".tmp-notes.txt").read_text() == "the user's"


def test_a_sweep_never_takes_a_temp_file_being_written(tmp_path, monkeypatch):
    """A sweep that runs while a write is under way (here: from inside the write) leaves it."""
    real = fileio._write_all

    def write_and_sweep(fd, data):
        fileio.sweep_stale_temps(str(tmp_path))
        real(fd, data)

    monkeypatch.setattr(fileio, "_write_all", write_and_sweep)
    fileio.atomic_write(tmp_path / "out.bin", b"whole")
    assert (tmp_path / "out.bin").read_bytes() == b"whole"
    assert _temps(tmp_path) == []


def _fail_with(exc):
    def write(fd, data):
        os.write(fd, bytes(data[:len(data) // 2]))
        raise exc
    return write


def test_full_disk_on_save_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "w.nd")
    mx.nd.save(path, {"w": mx.nd.array(np.arange(6, dtype=np.float32))})
    monkeypatch.setattr(fileio, "_write_all",
                        _fail_with(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    with pytest.raises(mx.base.MXNetError, match="no space left on device") as err:
        mx.nd.save(path, {"w": mx.nd.array(np.zeros(1000, dtype=np.float32))})
    assert path in str(err.value)
    assert _temps(tmp_path) == []
    monkeypatch.undo()
    np.testing.assert_array_equal(mx.nd.load(path)["w"].asnumpy(), np.arange(6))


def test_interrupted_save_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "_write_all", _fail_with(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write(tmp_path / "x.bin", b"0123456789")
    assert os.listdir(tmp_path) == []


def test_written_file_is_private(tmp_path):
    old = os.umask(0)
    try:
        fileio.atomic_write(tmp_path / "x.bin", b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o600
    fd = os.open(tmp_path / "x.bin", os.O_RDONLY)
    try:                               # the writer's lock went with the rename
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
