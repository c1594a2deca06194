"""Build rendered C into a Python extension with cffi (its wrapper) and the C compiler, and
cache it.

Cache key: sha256 of the source, header, cdef, compiler command and flags, target and mxc
version; shapes are in the source, so there is one entry per shape signature.
Layout: <root>/<key[:2]>/<key>/{NAME.c, NAME.h, _mxc_<key>.c (cffi's wrapper), the module,
meta.json}; compiler/cache.py publishes entries atomically.
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
import time

from .cache import cache_root, fetch_or_build
from .fileio import atomic_write
from .errors import MXNetError

VERSION = "0.1.0"
_LOADED = {}          # key -> loaded cffi module (a process never loads one entry twice)


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


def _find_lib(folder, modname):
    for f in sorted(os.listdir(folder)):
        if f.startswith(modname) and (f.endswith(".so") or f.endswith(".pyd")):
            return os.path.join(folder, f)
    return None


def _load(folder, modname):
    path = _find_lib(folder, modname)
    if path is None:
        raise ImportError("no library in %s" % folder)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_jobs(jobs):
    """Run compiler commands side by side; returns [(command, returncode, output)]."""
    procs = [(job, subprocess.Popen(job, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
             for job in jobs]
    return [(job, p.wait(), p.stdout.read().decode("utf-8", "replace")) for job, p in procs]


def _compile(folder, name, source, header, cdef, flags, modname):
    """The graph's C and cffi's wrapper compile in parallel (the wrapper at -O1), then link.

    cffi writes the wrapper (emit_c_code); the C compiler builds both objects and the
    extension module, so the generated .c itself stays free of Python."""
    import cffi
    src = os.path.join(folder, name + ".c")
    with open(src, "w") as f:
        f.write(source)
    with open(os.path.join(folder, name + ".h"), "w") as f:
        f.write(header)
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
    try:
        results = _run_jobs(jobs)
        if all(rc == 0 for _, rc, _ in results):
            results = _run_jobs([link])
    except OSError as err:
        raise MXNetError("C compilation of %s failed: cannot run %s: %s"
                         % (name, compiler_command(), err)) from None
    for job, rc, text in results:
        if rc != 0:
            raise MXNetError("C compilation of %s failed (%s):\n%s"
                             % (name, " ".join(job), text[-4000:]))
    for obj in objs:
        os.unlink(obj)


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
        lambda final: _load(final, modname),
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


def _fingerprint_path(fp, root):
    return os.path.join(root or cache_root(), "fingerprints", fp[:2], fp)


def lookup(fp, root=None):
    """The Built recorded for this fingerprint, or None (then render and build)."""
    try:
        with open(_fingerprint_path(fp, root)) as f:
            key = f.read().strip()
    except OSError:
        return None
    if key in _LOADED:
        return Built(_LOADED[key][0], key, _LOADED[key][1], False, 0.0)
    t0 = time.perf_counter()
    folder = os.path.join(root or cache_root(), key[:2], key)
    try:
        module = _load(folder, "_mxc_" + key[:24])
    except Exception:              # missing or damaged: the caller renders and rebuilds
        return None
    _LOADED[key] = (module, folder)
    return Built(module, key, folder, False, time.perf_counter() - t0)


def remember(fp, key, root=None):
    """Record that this fingerprint renders to the entry `key`."""
    try:
        atomic_write(_fingerprint_path(fp, root), key.encode("ascii"))
    except OSError:
        pass                       # a read-only cache still works, it just renders again
