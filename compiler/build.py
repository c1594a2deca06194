"""The build pipeline, one for every target (compiler/target.py supplies what differs):
render -> cache key -> compile into the cache (or find the entry there) -> load, and the
fingerprint that finds a bind's library without rendering.

Cache key: sha256 of the target's name, the rendered source, header and cdef, the target's
identity (compiler, flags, architectures, platform) and mxc's version; shapes are in the
source, so there is one entry per shape signature.
Layout: <root>/[<target folder>/]<key[:2]>/<key>/{the rendered files, the library,
meta.json}; compiler/cache.py checks entries and publishes them atomically.
"""
import functools
import hashlib
import os
import subprocess
import threading
import time

from . import cache
from .cache import cache_root, fetch_or_build
from .errors import MXNetError
from .version import __version__ as VERSION

_LOADED = {}          # key -> (ffi, lib, folder): a process loads an entry once
_SEEN = {}            # fingerprint -> key, for the fingerprints this process verified


class Built:
    """A loaded library: `lib` (its C functions), `ffi`, the `target` it was built for, where
    it lives, and whether it was compiled now or found in the cache."""

    def __init__(self, ffi, lib, key, path, compiled, seconds, target):
        self.ffi, self.lib, self.key, self.path = ffi, lib, key, path
        self.compiled, self.seconds, self.target = compiled, seconds, target

    def check(self, rc, prefix="mxc"):
        """Turn a C error code into an MXNetError carrying the library's message."""
        if rc != 0:
            msg = self.ffi.string(getattr(self.lib, prefix + "_last_error")()).decode()
            raise MXNetError(msg or "compiled library returned error %d" % rc)


def _digest(parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def cache_key(target, rendered):
    """The entry a rendered graph compiles to, for this target and toolchain."""
    return _digest((target.name,) + tuple(rendered) + tuple(target.identity()) + (VERSION,))


# ---- running compilers --------------------------------------------------------------------

ERROR_LINES, ERROR_CHARS = 40, 4000      # what an error shows of a compiler's messages
_KEEP_BYTES = 16384                      # what is kept of them; the rest is read and dropped


class Ran:
    """A finished command: its returncode, the head of its output and the output's size."""

    def __init__(self, command, returncode, head, size):
        self.command, self.returncode, self.head, self.size = command, returncode, head, size

    def excerpt(self):
        """The first lines of the output, with a note when there was more."""
        lines = self.head.splitlines()
        text = "\n".join(lines[:ERROR_LINES])
        cut = len(lines) > ERROR_LINES or len(text) > ERROR_CHARS or self.size > _KEEP_BYTES
        text = text[:ERROR_CHARS]
        if cut:
            text += "\n[... %d bytes of output in all, first lines shown]" % self.size
        return text


def _drain(stream, kept, size):
    """Read a pipe to its end, keeping its first _KEEP_BYTES (so it never fills)."""
    with stream:
        for chunk in iter(lambda: stream.read1(65536), b""):
            if size[0] < _KEEP_BYTES:
                kept.append(chunk[:_KEEP_BYTES - size[0]])
            size[0] += len(chunk)


def run_commands(commands, timeout=None):
    """Run commands side by side, each one's output read as it comes by a thread, so no
    amount of it can block; returns [Ran]. On a timeout (subprocess.TimeoutExpired) or an
    interrupt every command still running is killed."""
    running = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for cmd in commands:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            kept, size = [], [0]
            reader = threading.Thread(target=_drain, args=(proc.stdout, kept, size),
                                      daemon=True)
            reader.start()
            running.append((cmd, proc, reader, kept, size))
        results = []
        for cmd, proc, reader, kept, size in running:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            rc = proc.wait(timeout=left)
            reader.join(timeout=10)
            results.append(Ran(cmd, rc, b"".join(kept).decode("utf-8", "replace"), size[0]))
        return results
    finally:
        for _, proc, _, _, _ in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def compile_failure(what, ran):
    """The MXNetError for a failed command: the command and the first lines it printed."""
    return MXNetError("%s failed (%s, exit status %d):\n%s"
                      % (what, " ".join(ran.command), ran.returncode, ran.excerpt()))


def run_compiler(what, commands, program, timeout=None):
    """run_commands, raising compile_failure for the first command that failed."""
    try:
        results = run_commands(commands, timeout)
    except OSError as err:
        raise MXNetError("%s failed: cannot run %s: %s" % (what, program, err)) from None
    except subprocess.TimeoutExpired:
        raise MXNetError("%s failed: %s ran for more than %s s" % (what, program, timeout)) \
            from None
    for ran in results:
        if ran.returncode != 0:
            raise compile_failure(what, ran)
    return results


def _loaded(target, key, compiled=False, seconds=0.0):
    ffi, lib, folder = _LOADED[key]
    return Built(ffi, lib, key, folder, compiled, seconds, target)


def build(target, rendered, name="mxc", root=None):
    """Compile a target.Rendered for `target` (or find it in the cache) and load it: a Built."""
    key = cache_key(target, rendered)
    if key in _LOADED:
        return _loaded(target, key)
    t0 = time.perf_counter()
    (ffi, lib), folder, compiled = fetch_or_build(
        target.shard(root or cache_root(), key), key,
        lambda tmp: target.compile(tmp, name, rendered, key, root),
        lambda library, meta: target.load_library(library, meta),
        dict(target.entry_meta(name, rendered), target=target.name, version=VERSION))
    _LOADED[key] = (ffi, lib, folder)
    return _loaded(target, key, compiled, time.perf_counter() - t0)


# ---- fingerprints: a cache hit without rendering ------------------------------------------
# Rendering imports Jinja and walks every template; a bind whose inputs were seen before can
# skip it. The fingerprint covers everything the rendered source depends on: the caller's
# description of the graph (symbol JSON, shapes, names, grad_req, dtype, modes), the compiler's
# Python sources and templates, the target and its toolchain, and mxc's version.

@functools.lru_cache(maxsize=1)
def package_digest():
    """sha256 over the compiler's Python sources and templates, each by its path, size and
    modification time (a stat per file: a bind that hits the cache reads none of them; any
    edit, checkout or reinstall changes the time)."""
    from importlib import resources
    h = hashlib.sha256()
    roots = [os.path.dirname(os.path.abspath(__file__)),
             str(resources.files("mxc.compiler.templates"))]
    for root in roots:
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".py", ".j2")):
                    path = os.path.join(folder, f)
                    st = os.stat(path)
                    h.update(("%s\0%d\0%d\0" % (os.path.relpath(path, root), st.st_size,
                                                 st.st_mtime_ns)).encode("utf-8"))
    return h.hexdigest()


def fingerprint(target, *parts):
    return _digest(parts + (package_digest(), target.name) + tuple(target.identity()) +
                   (VERSION,))


def lookup(target, fp, root=None):
    """The Built recorded for this fingerprint, or None (then render and build). The entry
    must list fp in its meta.json and pass every check of compiler/cache.py."""
    key = _SEEN.get(fp)
    if key in _LOADED:
        return _loaded(target, key)
    root = root or cache_root()
    t0 = time.perf_counter()
    try:
        found = cache.find_by_fingerprint(root, fp, lambda k: target.shard(root, k))
        if found is None:
            return None
        key, folder, library, meta = found
        loaded = _LOADED.get(key) or target.load_library(library, meta) + (folder,)
    except cache.Rejected as why:  # the caller renders and builds
        cache.log.warning("cached library not used: %s", why)
        return None
    except Exception as err:       # missing or damaged: the caller renders and rebuilds
        cache.log.info("cached library not used: %s", err)
        return None
    cache.sweep_shard_of(folder)
    _LOADED[key] = loaded
    _SEEN[fp] = key
    return _loaded(target, key, False, time.perf_counter() - t0)


def remember(fp, built, root=None):
    """Record that this fingerprint renders to the entry `built`."""
    root = root or cache_root()
    try:
        cache.record_fingerprint(root, fp, built.key, built.target.shard(root, built.key))
    except (OSError, MXNetError, cache.Rejected) as err:
        cache.log.info("fingerprint not recorded (%s): the next bind renders again", err)
        return                     # a read-only or full cache still works, it renders again
    _SEEN[fp] = built.key
