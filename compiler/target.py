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
import threading

from . import build as _build
from . import build_cuda, optimizers
from .cache import fetch_or_build
from .errors import MXNetError
from .fileio import write_private

# source, header, cdef: a graph's translation unit, its header and its cffi declarations;
# units: when the build is split, ((kind, text), ...) besides source (then the entry points):
# "kernels" units compile at the target's flags, side by side, and one "shared" unit is the
# kernels every graph shares, compiled once per toolchain into its own cache entry
Rendered = collections.namedtuple("Rendered", "source header cdef units", defaults=((),))


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

    def compile(self, folder, name, rendered, key, root=None):
        """Write the rendered files into folder and compile them; the library's path. root:
        the cache root, for what the build shares with other entries (None: the default)."""
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


MAX_PARTS = 4        # translation units of operator kernels a C build splits into at most


class _SharedJob:
    """The shared kernels' object, found or compiled in a thread beside the graph's own
    compilers; result() is [its path] (or raises what finding it raised)."""

    def __init__(self, target, text, root):
        self._path, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(target, text, root),
                                        daemon=True)
        self._thread.start()

    def _run(self, target, text, root):
        try:
            self._path = target.shared_object(text, root)
        except BaseException as err:              # re-raised in the caller's thread
            self._error = err

    def join(self):
        self._thread.join()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return [self._path]


def fetch_or_build_object(shard, key, build, meta):
    """(path, folder, compiled now) of a cached object file, built by build(folder) when
    missing; the entry is checked (owner, mode, sha256) as any library is."""
    return fetch_or_build(shard, key, build, lambda path, meta: path, meta)


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
        """The entry points, the operator kernels in one part per core (up to MAX_PARTS) and
        the shared kernels, as separate translation units (see compile)."""
        from . import codegen
        glue, parts, header, cdef = codegen.render_split(
            plan, parts=max(1, min(MAX_PARTS, os.cpu_count() or 1)), kinds=kinds,
            metric_io=metric_io)
        units = tuple(("kernels", text) for text in parts)
        return Rendered(glue, header, cdef,
                        units + (("shared", codegen.render_shared(plan.ctype)),))

    def glue_flags(self):
        """The flags of the entry points and cffi's wrapper: -O1 (calls in sequence and
        copies; the optimizer loops raise their own level) with the target's other flags."""
        return [f for f in self.flags if not f.startswith("-O")] + ["-O1"]

    def compile(self, folder, name, rendered, key, root=None):
        """The graph's translation units and cffi's wrapper compile side by side, then link
        with the shared kernels' object (found in the cache, or compiled there meanwhile).

        Split (rendered.units): the operator kernels at the target's flags, the entry points
        and the wrapper at glue_flags. One unit (no units): it compiles at the target's flags.
        cffi writes the wrapper (emit_c_code); the C compiler builds every object and the
        extension module, so the generated .c files stay free of Python."""
        modname = _module_name(key)
        src = os.path.join(folder, name + self.suffix)
        write_private(src, rendered.source)
        write_private(os.path.join(folder, name + ".h"), rendered.header)
        wrapper = self._write_wrapper(folder, name, rendered.cdef, modname)
        cc = shlex.split(compiler_command())
        include = sysconfig.get_paths()["include"]
        kernels = [t for kind, t in rendered.units if kind == "kernels"]
        shared = [t for kind, t in rendered.units if kind == "shared"]
        low = self.glue_flags() if rendered.units else ["-O1"]
        objs = [os.path.join(folder, name + ".o"), os.path.join(folder, modname + ".o")]
        jobs = [cc + (low if rendered.units else self.flags) + ["-fPIC", "-c", src, "-o", objs[0]],
                cc + low + ["-fPIC", "-I", include, "-I", folder, "-c", wrapper, "-o", objs[1]]]
        for i, text in enumerate(kernels):
            part = os.path.join(folder, "%s_k%d%s" % (name, i, self.suffix))
            write_private(part, text)
            objs.append(part[:-len(self.suffix)] + ".o")
            jobs.append(cc + self.flags + ["-fPIC", "-c", part, "-o", objs[-1]])
        jobs.sort(key=lambda job: job[-3] == wrapper)     # the wrapper last (it is quick)
        out = os.path.join(folder, modname + importlib.machinery.EXTENSION_SUFFIXES[0])
        what = "C compilation of %s" % name
        found = _SharedJob(self, shared[0], root) if shared else None
        try:
            _build.run_compiler(what, jobs, compiler_command())
        finally:
            if found:
                found.join()            # its error, if any, only once the graph compiled
        linked = found.result() if found else []
        link = cc + ["-shared"] + (["-undefined", "dynamic_lookup"] if sys.platform == "darwin"
                                   else []) + ["-o", out] + objs + linked + \
            [f for f in self.flags if f == "-fopenmp"]
        _build.run_compiler(what, [link], compiler_command())
        for obj in objs:
            os.unlink(obj)
        if not os.path.isfile(out):
            raise MXNetError("%s failed: the linker wrote no %s" % (what, os.path.basename(out)))
        return out

    def shared_object(self, text, root=None):
        """The object of the shared kernels' translation unit `text` for this compiler and
        flags: from the cache (<root>/shared), compiled into it when missing."""
        key = _build.cache_key(self, ("shared", text))
        shard = os.path.join(root or _build.cache_root(), "shared", key[:2])
        cc = shlex.split(compiler_command())

        def compile_object(folder):
            src = os.path.join(folder, "mxc_shared.c")
            obj = os.path.join(folder, "mxc_shared.o")
            write_private(src, text)
            _build.run_compiler("C compilation of the shared kernels",
                                [cc + self.flags + ["-fPIC", "-c", src, "-o", obj]],
                                compiler_command())
            if not os.path.isfile(obj):
                raise MXNetError("C compilation of the shared kernels wrote no object")
            return obj
        path, _folder, _compiled = fetch_or_build_object(
            shard, key, compile_object, {"what": "shared kernels", "flags": self.flags,
                                         "cc": compiler_command()})
        return path

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

    def compile(self, folder, name, rendered, key, root=None):
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
