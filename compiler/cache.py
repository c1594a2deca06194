"""The on-disk cache of compiled libraries, shared by the C and CUDA builds.

Rules:
- Folders the cache creates are 0700 and its files 0600, whatever the umask.
- An entry `<shard>/<key>` is loaded only if its shard, its folder, its meta.json and its
  library are owned by this user and not writable by group or others (symbolic links are
  refused), meta.json names the key, and the library's sha256 matches the one meta.json
  recorded. Otherwise it is not loaded: it is replaced by a fresh build, or, when it cannot be
  replaced (a shard or entry owned by someone else), built in a folder private to this process;
  either way with a warning on the `mxc.cache` logger.
- An entry is built in `.build-<key>-*` beside it while holding the lock file `.<key>.lock`, and
  published with one rename: concurrent builders all succeed and nobody sees half an entry. A
  `.build-*` folder whose key lock is free was left by a builder that died (kill -9); the next
  bind into that shard removes it. Every failure path removes the build folder.
- meta.json may carry what loading needs besides the library (a CUDA library's cdef), so it
  is as trusted as the library itself.
- A fingerprint (a bind's inputs, see build.py) is a file holding the key it rendered to; the
  entry's meta.json lists the fingerprints recorded for it, and a fingerprint it does not list
  is a miss.
"""
import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time

from .errors import MXNetError
from .fileio import atomic_write, disk_full, sweep_stale_temps, write_private

log = logging.getLogger("mxc.cache")

DIR_MODE, FILE_MODE = 0o700, 0o600
BUILD_PREFIX = ".build-"
MAX_FINGERPRINTS = 64            # per entry; the oldest are forgotten (they render again)
_KEY = re.compile(r"[0-9a-f]{64}\Z")
_private_root = []               # this process's fallback folder, made on first need


class Rejected(Exception):
    """A cache entry or fingerprint that must not be loaded; the message says why."""


def cache_root():
    root = os.environ.get("MXC_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        root = os.path.join(base, "mxc")
    return root


def is_key(text):
    return bool(_KEY.match(text))


# ---- ownership and modes ------------------------------------------------------------------

def private_dir(path):
    """Make `path` and its missing parents as 0700 folders (whatever the umask)."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)


def distrust(path, folder=False):
    """Why `path` must not be trusted (a phrase), or None: it must be a real folder or file
    owned by this user and not writable by group or others."""
    try:
        st = os.lstat(path)
    except OSError as err:
        return "cannot be read (%s)" % (err.strerror or err)
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not (stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)):
        return "is not a %s" % ("folder" if folder else "regular file")
    if st.st_uid != os.getuid():
        return "is owned by uid %d, not by this user (uid %d)" % (st.st_uid, os.getuid())
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by group or others (mode %o)" % stat.S_IMODE(st.st_mode)
    return None


def require_trusted(path, folder=False):
    why = distrust(path, folder)
    if why:
        raise Rejected("%s %s" % (path, why))


def seal(folder):
    """Folders 0700 and files 0600 under `folder` (compilers create files by the umask)."""
    os.chmod(folder, DIR_MODE)
    for parent, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(parent, d), DIR_MODE)
        for f in files:
            os.chmod(os.path.join(parent, f), FILE_MODE)


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---- entries ------------------------------------------------------------------------------

def read_meta(folder, key):
    """An entry's meta.json, after checking who owns it and that it names `key`."""
    require_trusted(folder, folder=True)
    path = os.path.join(folder, "meta.json")
    require_trusted(path)
    try:
        with open(path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as err:
        raise Rejected("%s cannot be read (%s)" % (path, err)) from None
    if not isinstance(meta, dict) or meta.get("key") != key:
        raise Rejected("%s does not name the key %s" % (path, key[:16]))
    return meta


def verified_entry(folder, key, fingerprint=None):
    """(library path, meta.json) of entry `key` once every rule holds, else raises Rejected."""
    meta = read_meta(folder, key)
    name = meta.get("library")
    if not isinstance(name, str) or os.path.basename(name) != name or name.startswith("."):
        raise Rejected("%s/meta.json names no library" % folder)
    path = os.path.join(folder, name)
    require_trusted(path)
    if file_sha256(path) != meta.get("sha256"):
        raise Rejected("%s does not match the sha256 its meta.json recorded" % path)
    if fingerprint is not None and fingerprint not in meta.get("fingerprints", ()):
        raise Rejected("%s/meta.json does not list this fingerprint" % folder)
    return path, meta


@contextlib.contextmanager
def key_lock(shard, key):
    """Hold `<shard>/.<key>.lock` (flock): builders of one key take turns."""
    fd = os.open(os.path.join(shard, "." + key + ".lock"),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _try_key_lock(shard, key):
    """The fd of key's lock if nobody holds it (the caller closes it), else None."""
    try:
        fd = os.open(os.path.join(shard, "." + key + ".lock"),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _build_key(name):
    """The key in a `.build-<key>-<random>` folder name, or None."""
    key = name[len(BUILD_PREFIX):].rpartition("-")[0]
    return key if is_key(key) else None


def sweep_stale_builds(shard, held_key=None):
    """Remove `.build-*` folders whose key lock no live builder holds (we hold held_key's)."""
    try:
        names = [e.name for e in os.scandir(shard) if e.name.startswith(BUILD_PREFIX)]
    except OSError:
        return
    by_key = {}
    for name in names:
        key = _build_key(name)
        if key:
            by_key.setdefault(key, []).append(name)
    for key, stale in sorted(by_key.items()):
        fd = None if key == held_key else _try_key_lock(shard, key)
        if key != held_key and fd is None:
            continue                   # its builder is alive
        try:
            for name in stale:
                shutil.rmtree(os.path.join(shard, name), ignore_errors=True)
        finally:
            if fd is not None:
                os.close(fd)


def _discard(final):
    """Remove a rejected entry; False when it cannot be removed (not ours)."""
    if os.path.islink(final) or os.path.isfile(final):
        with contextlib.suppress(OSError):
            os.unlink(final)
    else:
        shutil.rmtree(final, ignore_errors=True)
    return not os.path.lexists(final)


def _private_shard(shard):
    """A shard in a folder private to this process (removed at exit), for entries the shared
    cache cannot hold safely."""
    if not _private_root:
        root = tempfile.mkdtemp(prefix="mxc-cache-")
        atexit.register(shutil.rmtree, root, True)
        _private_root.append(root)
    path = os.path.join(_private_root[0], hashlib.sha256(shard.encode()).hexdigest()[:16])
    private_dir(path)
    return path


def usable_folder(path):
    """Make folder `path` private if missing; None when it can be trusted, else why not.

    A folder of ours that others may write to (made under an old umask) is made 0700; what
    it holds is still checked entry by entry."""
    try:
        private_dir(path)
    except OSError as err:
        if disk_full(err):
            raise MXNetError("cannot create the cache folder %s: no space left on device"
                             % path) from None
        raise
    why = distrust(path, folder=True)
    st = os.lstat(path)
    if why and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
        log.warning("cache folder %s %s: making it private (0700)", path, why)
        os.chmod(path, DIR_MODE)
        why = distrust(path, folder=True)
    return why


def _usable_shard(shard):
    """shard itself, or a private one when it cannot be trusted."""
    why = usable_folder(shard)
    if why is None:
        return shard
    log.warning("cache folder %s %s: building in a private folder instead", shard, why)
    return _private_shard(shard)


def _publish(shard, key, build, meta):
    """Build entry `key` in a `.build-*` folder and rename it into place."""
    final = os.path.join(shard, key)
    tmp = tempfile.mkdtemp(prefix=BUILD_PREFIX + key + "-", dir=shard)
    try:
        library = build(tmp)
        seal(tmp)
        record = dict(meta, key=key, library=os.path.basename(library),
                      sha256=file_sha256(library), fingerprints=[], created=time.time())
        write_private(os.path.join(tmp, "meta.json"), json.dumps(record, indent=1))
        os.rename(tmp, final)
    except OSError as err:
        if disk_full(err):
            raise MXNetError("cannot build the cache entry %s in %s: no space left on device"
                             % (key[:16], shard)) from None
        raise MXNetError("cannot build the cache entry %s in %s: %s"
                         % (key[:16], shard, err)) from None
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _load_existing(final, key, load):
    """The loaded entry, or None (with a warning) when it must be rebuilt."""
    try:
        return load(*verified_entry(final, key))
    except Rejected as why:
        log.warning("cache entry not loaded: %s; rebuilding it", why)
    except Exception as err:           # a damaged entry is rebuilt, not trusted
        log.warning("cache entry %s failed to load (%s); rebuilding it", final, err)
    return None


def fetch_or_build(shard, key, build, load, meta):
    """Load entry `key` from `shard`, or build it there first.

    build(folder) writes the entry's files and returns the library's path; load(path, meta)
    loads that library (after every check above; meta is its meta.json) or raises; meta is
    recorded in meta.json.
    Returns (loaded, folder, compiled_now)."""
    shard = _usable_shard(shard)
    with key_lock(shard, key):
        sweep_stale_builds(shard, held_key=key)
        final = os.path.join(shard, key)
        if os.path.lexists(final):
            loaded = _load_existing(final, key, load)
            if loaded is not None:
                return loaded, final, False
            if not _discard(final):
                log.warning("cache entry %s cannot be replaced: building in a private folder",
                            final)
                return fetch_or_build(_private_shard(shard), key, build, load, meta)
        _publish(shard, key, build, meta)
        return load(*verified_entry(final, key)), final, True


# ---- fingerprints -------------------------------------------------------------------------

def fingerprint_path(root, fp):
    return os.path.join(root, "fingerprints", fp[:2], fp)


def find_by_fingerprint(root, fp, shard_of):
    """(key, folder, library path, meta.json) recorded for fingerprint fp, None when there
    is none, or raises Rejected.

    shard_of(key) is the shard folder of a key. The fingerprint file and its folders must be
    trusted, and the entry's meta.json must list fp (so a fingerprint file pointing at another
    graph's library is a miss)."""
    path = fingerprint_path(root, fp)
    if not os.path.lexists(path):
        return None
    require_trusted(os.path.dirname(os.path.dirname(path)), folder=True)
    require_trusted(os.path.dirname(path), folder=True)
    require_trusted(path)
    with open(path, "rb") as f:
        key = f.read(200).decode("ascii", "replace").strip()
    if not is_key(key):
        raise Rejected("%s does not hold a cache key" % path)
    shard = shard_of(key)
    require_trusted(shard, folder=True)
    folder = os.path.join(shard, key)
    return (key, folder) + verified_entry(folder, key, fingerprint=fp)


def record_fingerprint(root, fp, key, shard):
    """List fp in entry key's meta.json, then point fp's file at key. Raises OSError,
    MXNetError or Rejected when it cannot (the caller just renders again next time)."""
    folder = os.path.join(shard, key)
    with key_lock(shard, key):
        meta = read_meta(folder, key)
        known = [f for f in meta.get("fingerprints", ()) if f != fp]
        meta["fingerprints"] = (known + [fp])[-MAX_FINGERPRINTS:]
        atomic_write(os.path.join(folder, "meta.json"), json.dumps(meta, indent=1).encode())
    path = fingerprint_path(root, fp)
    for folder in (os.path.dirname(os.path.dirname(path)), os.path.dirname(path)):
        why = usable_folder(folder)
        if why:
            raise Rejected("%s %s" % (folder, why))
    atomic_write(path, key.encode("ascii"))


def sweep_shard_of(folder):
    """Sweep stale build folders in the shard holding entry folder (a cache-hit bind)."""
    shard = os.path.dirname(folder)
    with contextlib.suppress(OSError):
        if any(e.name.startswith(BUILD_PREFIX) for e in os.scandir(shard)):
            sweep_stale_builds(shard)
    sweep_stale_temps(folder)
