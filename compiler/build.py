"""Build rendered C into a Python extension with cffi (its wrapper) and the C compiler, and
cache it.

Cache key: sha256 of the source, header, cdef, compiler command and flags, target and mxc
version; shapes are in the source, so there is one entry per shape signature.
Layout: <root>/<key[:2]>/<key>/{NAME.c, NAME.h, _mxc_<key>.c (cffi's wrapper), the module,
meta.json}; compiler/cache.py checks entries and publishes them atomically.
"""
import contextlib
import functools
import hashlib
import importlib.machinery
import importlib.util
import io
import os
import shlex
import subprocess
import sys
import sysconfig
import threading
import time

from . import cache
from .cache import cache_root, fetch_or_build
from .fileio import write_private
from .errors import MXNetError

from .version import __version__ as VERSION
_LOADED = {}          # key -> (loaded cffi module, folder): a process loads an entry once
_SEEN = {}            # fingerprint -> key, for the fingerprints this process verified


def compiler_command():
    return os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"


def default_flags():
    flags = os.environ.get("MXC_CFLAGS")
    if flags:
        return flags.split()
    out = ["-O3", "-fno-math-errno", "-fopenmp"]
    if os.environ.get("MXC_NATIVE", "1") != "0":
        out.append("-march=native")
    return out


class Built:
    """A loaded library: `lib` (the C functions), `ffi`, where it lives, and whether it was
    compiled now or found in the cache."""

    def __init__(self, module, key, path, compiled, seconds):
        self.ffi, self.lib = module.ffi, module.lib
        self.key, self.path, self.compiled, self.seconds = key, path, compiled, seconds

    def check(self, rc, prefix="mxc"):
        """Turn a C error code into an MXNetError carrying the C message."""
        if rc != 0:
            msg = self.ffi.string(getattr(self.lib, prefix + "_last_error")()).decode()
            raise MXNetError(msg or "compiled library returned error %d" % rc)


def cache_key(source, header, cdef, flags):
    h = hashlib.sha256()
    for part in (source, header, cdef, compiler_command(), " ".join(flags), sys.platform,
                 sysconfig.get_platform(), sys.implementation.cache_tag, VERSION):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _load(path, modname):
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def _compile(folder, name, source, header, cdef, flags, modname):
    """The graph's C and cffi's wrapper compile in parallel (the wrapper at -O1), then link.

    cffi writes the wrapper (emit_c_code); the C compiler builds both objects and the
    extension module, so the generated .c itself stays free of Python. Returns the module's
    path."""
    import cffi
    src = os.path.join(folder, name + ".c")
    write_private(src, source)
    write_private(os.path.join(folder, name + ".h"), header)
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(modname, '#include "%s.h"' % name)
    wrapper = os.path.join(folder, modname + ".c")
    with contextlib.redirect_stdout(io.StringIO()):          # cffi says "generating ..."
        ffi.emit_c_code(wrapper)
    cc = shlex.split(compiler_command())
    include = sysconfig.get_paths()["include"]
    objs = [os.path.join(folder, name + ".o"), os.path.join(folder, modname + ".o")]
    jobs = [cc + flags + ["-fPIC", "-c", src, "-o", objs[0]],
            cc + ["-O1", "-fPIC", "-I", include, "-I", folder, "-c", wrapper, "-o", objs[1]]]
    out = os.path.join(folder, modname + importlib.machinery.EXTENSION_SUFFIXES[0])
    link = cc + ["-shared"] + (["-undefined", "dynamic_lookup"] if sys.platform == "darwin"
                               else []) + ["-o", out] + objs + \
        [f for f in flags if f == "-fopenmp"]
    what = "C compilation of %s" % name
    run_compiler(what, jobs, compiler_command())
    run_compiler(what, [link], compiler_command())
    for obj in objs:
        os.unlink(obj)
    if not os.path.isfile(out):
        raise MXNetError("%s failed: the linker wrote no %s" % (what, os.path.basename(out)))
    return out


def build(source, header, cdef, name="mxc", flags=None, root=None):
    """Compile (or find in the cache) and load. Returns a Built."""
    flags = list(default_flags() if flags is None else flags)
    key = cache_key(source, header, cdef, flags)
    if key in _LOADED:
        return Built(_LOADED[key][0], key, _LOADED[key][1], False, 0.0)
    t0 = time.perf_counter()
    modname = "_mxc_" + key[:24]
    module, folder, compiled = fetch_or_build(
        os.path.join(root or cache_root(), key[:2]), key,
        lambda tmp: _compile(tmp, name, source, header, cdef, flags, modname),
        lambda library: _load(library, modname),
        {"name": name, "flags": flags, "cc": compiler_command(), "version": VERSION})
    _LOADED[key] = (module, folder)
    return Built(module, key, folder, compiled, time.perf_counter() - t0)


# ---- fingerprints: a cache hit without rendering ------------------------------------------
# Rendering imports Jinja and walks every template; a bind whose inputs were seen before can
# skip it. The fingerprint covers everything the rendered source depends on: the caller's
# description of the graph (symbol JSON, shapes, names, grad_req, dtype, modes), the compiler's
# Python sources and templates, the C compiler and flags, the platform and mxc's version.

@functools.lru_cache(maxsize=1)
def package_digest():
    """sha256 over the compiler's Python sources and templates."""
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
                    h.update(os.path.relpath(path, root).encode("utf-8"))
                    with open(path, "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()


def fingerprint(*parts, flags=None):
    flags = list(default_flags() if flags is None else flags)
    h = hashlib.sha256()
    for part in parts + (package_digest(), compiler_command(), " ".join(flags),
                         sys.platform, sysconfig.get_platform(),
                         sys.implementation.cache_tag, VERSION):
        h.update(str(part).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _shard(root, key):
    return os.path.join(root or cache_root(), key[:2])


def lookup(fp, root=None):
    """The Built recorded for this fingerprint, or None (then render and build). The entry
    must list fp in its meta.json and pass every check of compiler/cache.py."""
    key = _SEEN.get(fp)
    if key in _LOADED:
        return Built(_LOADED[key][0], key, _LOADED[key][1], False, 0.0)
    t0 = time.perf_counter()
    try:
        found = cache.find_by_fingerprint(root or cache_root(), fp, lambda k: _shard(root, k))
        if found is None:
            return None
        key, folder, library = found
        if key in _LOADED:
            module = _LOADED[key][0]
        else:
            module = _load(library, "_mxc_" + key[:24])
    except cache.Rejected as why:  # the caller renders and builds
        cache.log.warning("cached library not used: %s", why)
        return None
    except Exception as err:       # missing or damaged: the caller renders and rebuilds
        cache.log.info("cached library not used: %s", err)
        return None
    cache.sweep_shard_of(folder)
    _LOADED[key] = (module, folder)
    _SEEN[fp] = key
    return Built(module, key, folder, False, time.perf_counter() - t0)


def remember(fp, key, root=None):
    """Record that this fingerprint renders to the entry `key`."""
    try:
        cache.record_fingerprint(root or cache_root(), fp, key, _shard(root, key))
    except (OSError, MXNetError, cache.Rejected) as err:
        cache.log.info("fingerprint not recorded (%s): the next bind renders again", err)
        return                     # a read-only or full cache still works, it renders again
    _SEEN[fp] = key
