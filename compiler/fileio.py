"""Atomic file writes: a locked temp file in the target folder, then os.replace.

A writer holds an flock on its `.tmp-mxc-*` file from creation to the rename, so a temp file whose
lock is free was left by a writer that died (killed with -9, power cut); the next write into
that folder sweeps it. A full disk is an MXNetError naming the file, and leaves nothing behind.
"""
import errno
import fcntl
import os
import re
import tempfile

from .errors import MXNetError

TMP_PREFIX = ".tmp-mxc-"
# what a sweep may remove: our temp files, and those of earlier versions (mkstemp's ".tmp-"
# and 8 random characters); other files that start with ".tmp-" are left alone
_OURS = re.compile(r"\.tmp-(mxc-[a-z0-9_]+|[a-z0-9_]{8})\Z")
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def disk_full(err):
    """Whether an OSError means the disk (or the user's quota) is full."""
    return isinstance(err, OSError) and err.errno in _FULL


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _same_file(fd, path):
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


def _locked_temp(folder):
    """A new `.tmp-*` file in folder, locked by us: (fd, path)."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, tmp):        # else a sweep took it before we held the lock
            return fd, tmp
        os.close(fd)


def sweep_stale_temps(folder):
    """Remove the `.tmp-*` files in folder that no live writer holds."""
    try:
        names = [e.name for e in os.scandir(folder) if _OURS.match(e.name)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                os.unlink(path)
        except OSError:
            pass                       # a live writer holds it, or it is not ours to remove
        finally:
            os.close(fd)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _full_disk_error(path):
    return MXNetError("cannot write %s: no space left on device (nothing was written)" % path)


def atomic_write(path, data):
    """Write bytes to `path` so that readers see the old file or the whole new one.

    The new file is private to the user (0600), as the temp file it was written to."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        sweep_stale_temps(folder)
        fd, tmp = _locked_temp(folder)
    except OSError as err:
        if disk_full(err):
            raise _full_disk_error(path) from None
        raise
    try:
        _write_all(fd, data)
        os.fsync(fd)
        os.replace(tmp, path)          # still locked: a sweep never sees a finished temp free
    except BaseException as err:
        _remove(tmp)
        if disk_full(err):
            raise _full_disk_error(path) from None
        raise
    finally:
        os.close(fd)


def write_private(path, data):
    """Create `path` (which must not exist) holding data, mode 0600 whatever the umask."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _write_all(fd, data)
    finally:
        os.close(fd)
