"""The CUDA toolchain: where nvcc is, its version, the GPU architectures to compile for and
their flags, and which optimizer kernels a device library carries. compiler/target.py's
CudaTarget builds with it through the one pipeline of build.py (entries under
<cache root>/cuda/).
GPU architectures: env MXC_CUDA_ARCH ("90" or "80,90"), else the visible GPUs' compute
capability (nvidia-smi), else DEFAULT_ARCHS.
"""
import functools
import os
import shutil
import subprocess
from importlib import resources

from . import optimizers
from .errors import MXNetError

DEFAULT_ARCHS = ("75", "80", "86", "90")
NVCC_TIMEOUT = 900                  # seconds


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


def require_nvcc():
    """nvcc_path(), or an MXNetError saying how to provide it."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise MXNetError("nvcc is missing: install the CUDA toolkit or set NVCC / CUDA_HOME "
                         "to build for a GPU")
    return nvcc


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


def optimizer_kinds():
    """Optimizer kinds that have both a C contract and a device kernel (templates/cuda/optim);
    a device library carries all of them."""
    folder = resources.files("mxc.compiler.templates") / "cuda" / "optim"
    return [k for k in optimizers.KERNELS if (folder / ("%s.cu.j2" % k)).is_file()]
