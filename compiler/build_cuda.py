"""Build rendered CUDA with nvcc into a shared library (plain C ABI), cache it, load it with cffi.

Cache key: sha256 of the source, cdef, nvcc version, flags, GPU architectures and mxc version.
Layout: <cache root>/cuda/<key[:2]>/<key>/{NAME.cu, libNAME.so, meta.json}; compiler/cache.py
checks entries before loading them and publishes them atomically, as for the C build.
GPU architectures: env MXC_CUDA_ARCH ("90" or "80,90"), else the visible GPUs' compute
capability (nvidia-smi), else DEFAULT_ARCHS.
"""
import functools
import hashlib
import os
import shutil
import subprocess
import time

from .build import VERSION, run_compiler
from .cache import cache_root, fetch_or_build
from .errors import MXNetError
from .fileio import write_private

DEFAULT_ARCHS = ("75", "80", "86", "90")
NVCC_TIMEOUT = 900                  # seconds
_LOADED = {}          # key -> (ffi, lib, folder)


def nvcc_path():
    """The nvcc executable (env NVCC, PATH, CUDA_HOME/CUDA_PATH, /usr/local/cuda), or None."""
    cand = [os.environ.get("NVCC"), shutil.which("nvcc")]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            cand.append(os.path.join(os.environ[var], "bin", "nvcc"))
    cand.append("/usr/local/cuda/bin/nvcc")
    for c in cand:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


@functools.lru_cache(maxsize=4)
def nvcc_version(nvcc):
    try:
        out = subprocess.run([nvcc, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise MXNetError("cannot run nvcc (%s): %s" % (nvcc, err)) from None
    return out.stdout.decode("utf-8", "replace").strip()


@functools.lru_cache(maxsize=1)
def visible_archs():
    """Compute capabilities of the visible GPUs as ("90", ...); () when none or no nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "--query-gpu=compute_cap", "--format=csv,noheader"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    archs = []
    for line in out.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and line.replace(".", "").isdigit():
            arch = line.replace(".", "")
            if arch not in archs:
                archs.append(arch)
    return tuple(archs)


def resolve_arch(arch=None):
    """A tuple of compute capabilities ("80", "90") from the argument, env, GPU or defaults."""
    if arch is None:
        arch = os.environ.get("MXC_CUDA_ARCH") or visible_archs() or DEFAULT_ARCHS
    if isinstance(arch, str):
        arch = [a for a in arch.replace(" ", ",").split(",") if a]
    out = []
    for a in arch:
        a = str(a).lower().replace("sm_", "").replace("compute_", "").replace(".", "")
        if not a.rstrip("af").isdigit():
            raise MXNetError("GPU architecture %r is not a compute capability such as '90'" % a)
        out.append(a)
    if not out:
        raise MXNetError("no GPU architecture to compile for")
    return tuple(out)


def arch_flags(archs):
    """nvcc -gencode flags: machine code for each arch and PTX of the newest one."""
    flags = ["-gencode=arch=compute_%s,code=sm_%s" % (a, a) for a in archs]
    newest = max(archs, key=lambda a: int(a.rstrip("af")))
    flags.append("-gencode=arch=compute_%s,code=compute_%s" % (newest, newest))
    return flags


def default_flags():
    flags = os.environ.get("MXC_NVCCFLAGS")
    return flags.split() if flags else ["-O3", "-std=c++17", "-Xcompiler", "-fPIC"]


class BuiltCuda:
    """A loaded device library: `lib`, `ffi`, its cache folder, and whether it was compiled now."""

    def __init__(self, ffi, lib, key, path, compiled, seconds, archs):
        self.ffi, self.lib, self.key, self.path = ffi, lib, key, path
        self.compiled, self.seconds, self.archs = compiled, seconds, archs

    def check(self, rc, prefix="mxc"):
        """Turn a C error code into an MXNetError carrying the library's message."""
        if rc != 0:
            msg = self.ffi.string(getattr(self.lib, prefix + "_last_error")()).decode()
            raise MXNetError(msg or "CUDA library returned error %d" % rc)


def cache_key(source, cdef, nvcc, flags, archs):
    h = hashlib.sha256()
    for part in (source, cdef, nvcc_version(nvcc), " ".join(flags), ",".join(archs), VERSION):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def compile_library(source, folder, name, nvcc, flags, archs):
    """nvcc <name>.cu -> lib<name>.so in folder; MXNetError with nvcc's first lines on failure."""
    src = os.path.join(folder, name + ".cu")
    lib = os.path.join(folder, "lib%s.so" % name)
    write_private(src, source)
    cmd = [nvcc] + list(flags) + arch_flags(archs) + ["-shared", "-o", lib, src]
    run_compiler("CUDA compilation of %s" % name, [cmd], nvcc, timeout=NVCC_TIMEOUT)
    if not os.path.isfile(lib):
        raise MXNetError("CUDA compilation of %s failed: nvcc wrote no %s"
                         % (name, os.path.basename(lib)))
    return lib


def _load(library, cdef):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    return ffi, ffi.dlopen(library)


def build(source, cdef, name="mxc", arch=None, flags=None, root=None):
    """Compile with nvcc (or find in the cache) and load. Returns a BuiltCuda."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise MXNetError("nvcc is missing: install the CUDA toolkit or set NVCC / CUDA_HOME "
                         "to build for a GPU")
    archs = resolve_arch(arch)
    flags = list(default_flags() if flags is None else flags)
    key = cache_key(source, cdef, nvcc, flags, archs)
    if key in _LOADED:
        ffi, lib, folder = _LOADED[key]
        return BuiltCuda(ffi, lib, key, folder, False, 0.0, archs)
    t0 = time.perf_counter()
    loaded, final, compiled = fetch_or_build(
        os.path.join(root or cache_root(), "cuda", key[:2]), key,
        lambda tmp: compile_library(source, tmp, name, nvcc, flags, archs),
        lambda library: _load(library, cdef),
        {"name": name, "flags": flags, "archs": archs,
         "nvcc": nvcc_version(nvcc).splitlines()[-1:], "version": VERSION})
    _LOADED[key] = (loaded[0], loaded[1], final)
    return BuiltCuda(loaded[0], loaded[1], key, final, compiled, time.perf_counter() - t0, archs)
