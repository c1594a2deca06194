"""The on-disk cache of compiled libraries, shared by the C and CUDA builds.

An entry is a folder `<shard>/<key>` built in a temporary folder beside it and published with
one rename under a file lock: concurrent builders all succeed, nobody sees half an entry, and
an entry that fails to load is rebuilt rather than trusted.
"""
import fcntl
import json
import os
import shutil
import tempfile
import time


def cache_root():
    root = os.environ.get("MXC_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        root = os.path.join(base, "mxc")
    return root


def fetch_or_build(shard, key, build, load, meta):
    """Load entry `key` from `shard`, or build it there first.

    build(folder) writes the entry's files; load(folder) returns the loaded library or raises;
    meta is written as meta.json. Returns (loaded, folder, compiled_now).
    """
    final = os.path.join(shard, key)
    os.makedirs(shard, exist_ok=True)
    with open(os.path.join(shard, "." + key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.isdir(final):
                try:
                    return load(final), final, False
                except Exception:          # a damaged entry is rebuilt, not trusted
                    shutil.rmtree(final, ignore_errors=True)
            tmp = tempfile.mkdtemp(prefix=".build-", dir=shard)
            try:
                build(tmp)
                with open(os.path.join(tmp, "meta.json"), "w") as f:
                    json.dump(dict(meta, key=key, created=time.time()), f, indent=1)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return load(final), final, True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
