"""Targets: what differs between building a plan for the CPU (C) and for a GPU (CUDA).

A Target supplies the renderer (which templates), the toolchain (compiler command, flags and
what identifies them), how a rendered graph becomes a library in a cache folder, and how that
library is loaded. Everything else, the cache key, the cache entry, the fingerprint hit that
skips rendering and the loaded-library record (Built), is one pipeline in build.py, the same
for every target:

    fp = target.fingerprint(*what_the_bind_depends_on)
    built = target.lookup(fp)                     # no Jinja, no compiler
    if built is None:
        built = target.build(target.render(plan, metric_io, kinds))
        target.remember(fp, built)

(`Target.load` is that sequence.) C libraries are Python extension modules made with cffi's
wrapper, so they carry their own ffi; CUDA libraries are plain shared objects opened with
ffi.dlopen over their cdef, which the cache entry's meta.json keeps, so a fingerprint hit on
a GPU needs no rendering either.
"""
import collections
import contextlib
import importlib.machinery
import importlib.util
import io
import os
import shlex
import sys
import sysconfig

from . import build as _build
from . import build_cuda, optimizers
from .errors import MXNetError
from .fileio import write_private

Rendered = collections.namedtuple("Rendered", "source header cdef")


class Target:
    """The pipeline's per-target part; subclasses fill in the toolchain and the loader."""

    name = None                 # enters the cache key and fingerprints
    suffix = None               # of the rendered source file
    cache_folder = ()           # the entries' folder under the cache root

    def __init__(self, flags=None):
        self.flags = list(self.default_flags() if flags is None else flags)

    # -- the pipeline (build.py), the same for every target --------------------------------
    def fingerprint(self, *parts):
        return _build.fingerprint(self, *parts)

    def lookup(self, fp, root=None):
        return _build.lookup(self, fp, root)

    def build(self, rendered, name="mxc", root=None):
        return _build.build(self, rendered, name, root)

    def remember(self, fp, built, root=None):
        _build.remember(fp, built, root)

    def load(self, fp, plan, metric_io, kinds=None):
        """The library for fingerprint fp: found by it, else rendered, built and remembered."""
        built = self.lookup(fp)
        if built is None:
            built = self.build(self.render(plan, metric_io, kinds))
            self.remember(fp, built)
        return built

    def shard(self, root, key):
        """The cache folder that holds entry `key`."""
        return os.path.join(root, *self.cache_folder, key[:2])

    # -- what a target supplies ---------------------------------------------------------------
    def default_flags(self):
        raise NotImplementedError

    def identity(self):
        """Strings that, with the rendered text, decide the library's bytes (compiler,
        flags, platform): they enter the cache key and the fingerprint."""
        raise NotImplementedError

    def render(self, plan, metric_io=None, kinds=None):
        """The plan as a Rendered (source, header, cdef)."""
        raise NotImplementedError

    def compile(self, folder, name, rendered, key):
        """Write the rendered files into folder and compile them; the library's path."""
        raise NotImplementedError

    def entry_meta(self, name, rendered):
        """What the cache entry's meta.json records besides the key and library."""
        raise NotImplementedError

    def load_library(self, path, meta):
        """(ffi, lib) of a verified library; meta is its entry's meta.json."""
        raise NotImplementedError

    def optimizer_kinds(self, kinds=None):
        """The optimizer kernels a library of this target carries when asked for `kinds`."""
        raise NotImplementedError

    def describe(self, built):
        """A few words for the bind log after the cache key ("" for none)."""
        return ""


# ---- C: the system compiler, a cffi extension module ----------------------------------------

def compiler_command():
    return os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"


def c_default_flags():
    flags = os.environ.get("MXC_CFLAGS")
    if flags:
        return flags.split()
    out = ["-O3", "-fno-math-errno", "-fopenmp"]
    if os.environ.get("MXC_NATIVE", "1") != "0":
        out.append("-march=native")
    return out


def _module_name(key):
    return "_mxc_" + key[:24]


class CTarget(Target):
    """C through the system compiler (env CC, MXC_CFLAGS), loaded as a cffi extension module."""

    name, suffix = "c", ".c"

    def default_flags(self):
        return c_default_flags()

    def identity(self):
        return (compiler_command(), " ".join(self.flags), sys.platform,
                sysconfig.get_platform(), sys.implementation.cache_tag)

    def render(self, plan, metric_io=None, kinds=None):
        from . import codegen
        return Rendered(*codegen.render(plan, kinds=kinds, metric_io=metric_io))

    def compile(self, folder, name, rendered, key):
        """The graph's C and cffi's wrapper compile in parallel (the wrapper at -O1), then
        link. cffi writes the wrapper (emit_c_code); the C compiler builds both objects and
        the extension module, so the generated .c itself stays free of Python."""
        modname = _module_name(key)
        src = os.path.join(folder, name + self.suffix)
        write_private(src, rendered.source)
        write_private(os.path.join(folder, name + ".h"), rendered.header)
        wrapper = self._write_wrapper(folder, name, rendered.cdef, modname)
        cc = shlex.split(compiler_command())
        include = sysconfig.get_paths()["include"]
        objs = [os.path.join(folder, name + ".o"), os.path.join(folder, modname + ".o")]
        jobs = [cc + self.flags + ["-fPIC", "-c", src, "-o", objs[0]],
                cc + ["-O1", "-fPIC", "-I", include, "-I", folder, "-c", wrapper, "-o", objs[1]]]
        out = os.path.join(folder, modname + importlib.machinery.EXTENSION_SUFFIXES[0])
        link = cc + ["-shared"] + (["-undefined", "dynamic_lookup"] if sys.platform == "darwin"
                                   else []) + ["-o", out] + objs + \
            [f for f in self.flags if f == "-fopenmp"]
        what = "C compilation of %s" % name
        _build.run_compiler(what, jobs, compiler_command())
        _build.run_compiler(what, [link], compiler_command())
        for obj in objs:
            os.unlink(obj)
        if not os.path.isfile(out):
            raise MXNetError("%s failed: the linker wrote no %s" % (what, os.path.basename(out)))
        return out

    @staticmethod
    def _write_wrapper(folder, name, cdef, modname):
        import cffi
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(modname, '#include "%s.h"' % name)
        wrapper = os.path.join(folder, modname + ".c")
        with contextlib.redirect_stdout(io.StringIO()):          # cffi says "generating ..."
            ffi.emit_c_code(wrapper)
        return wrapper

    def entry_meta(self, name, rendered):
        return {"name": name, "flags": self.flags, "cc": compiler_command()}

    def load_library(self, path, meta):
        modname = _module_name(meta["key"])
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.ffi, module.lib

    def optimizer_kinds(self, kinds=None):
        """Exactly `kinds` (every kernel when None): a C library carries what it is asked."""
        return list(optimizers.KERNELS) if kinds is None else list(kinds)


# ---- CUDA: nvcc, a plain shared library opened over its cdef --------------------------------

class CudaTarget(Target):
    """CUDA through nvcc (env NVCC, MXC_NVCCFLAGS) for the GPU architectures `arch` (see
    build_cuda.resolve_arch), loaded with ffi.dlopen over the cdef kept in the cache entry."""

    name, suffix, cache_folder = "cuda", ".cu", ("cuda",)

    def __init__(self, arch=None, flags=None):
        super().__init__(flags)
        self.archs = build_cuda.resolve_arch(arch)

    def default_flags(self):
        return build_cuda.default_flags()

    def identity(self):
        nvcc = build_cuda.nvcc_path()
        return (build_cuda.nvcc_version(nvcc) if nvcc else "no nvcc", " ".join(self.flags),
                ",".join(self.archs), sys.platform, sysconfig.get_platform())

    def render(self, plan, metric_io=None, kinds=None):
        """Every device optimizer kernel is rendered whatever `kinds` asks (see
        optimizer_kinds)."""
        from . import cuda
        source, cdef = cuda.render(plan, metric_io=metric_io)
        return Rendered(source, "", cdef)

    def compile(self, folder, name, rendered, key):
        """nvcc <name>.cu -> lib<name>.so; MXNetError with nvcc's first lines on failure."""
        nvcc = build_cuda.require_nvcc()
        src = os.path.join(folder, name + self.suffix)
        lib = os.path.join(folder, "lib%s.so" % name)
        write_private(src, rendered.source)
        cmd = [nvcc] + self.flags + build_cuda.arch_flags(self.archs) + ["-shared", "-o", lib,
                                                                          src]
        _build.run_compiler("CUDA compilation of %s" % name, [cmd], nvcc,
                            timeout=build_cuda.NVCC_TIMEOUT)
        if not os.path.isfile(lib):
            raise MXNetError("CUDA compilation of %s failed: nvcc wrote no %s"
                             % (name, os.path.basename(lib)))
        return lib

    def entry_meta(self, name, rendered):
        nvcc = build_cuda.require_nvcc()
        return {"name": name, "flags": self.flags, "archs": list(self.archs),
                "nvcc": build_cuda.nvcc_version(nvcc).splitlines()[-1:], "cdef": rendered.cdef}

    def load_library(self, path, meta):
        import cffi
        cdef = meta.get("cdef")
        if not isinstance(cdef, str):
            raise MXNetError("%s: its meta.json holds no cdef" % os.path.dirname(path))
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        return ffi, ffi.dlopen(path)

    def optimizer_kinds(self, kinds=None):
        """Every kernel with a device template, whatever `kinds` asks."""
        return build_cuda.optimizer_kinds()

    def describe(self, built):
        return ", sm_" + ",".join(self.archs)
