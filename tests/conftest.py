"""Shared pytest fixtures."""
import os
import pathlib
import subprocess
import sys

import pytest

_REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir():
    """Directory with the shared data and reference checkpoints (env MXC_SHARED overrides)."""
    candidates = []
    if os.environ.get("MXC_SHARED"):
        candidates.append(pathlib.Path(os.environ["MXC_SHARED"]))
    candidates += [_REPO.parent / "shared", _REPO / "shared"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    pytest.skip("shared data directory not found (set MXC_SHARED; tried %s)"
                % ", ".join(str(p) for p in candidates))


@pytest.fixture
def hold_lock():
    """hold_lock(path): a live process holding an flock on path until its stdin closes (the
    test closes it); stands for a writer or builder that is still running."""
    procs = []

    def hold(path):
        code = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\nsys.stdin.read()\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
