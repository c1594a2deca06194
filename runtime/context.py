"""Device contexts: mx.cpu(), mx.gpu(), the `with ctx:` default-context stack."""
import shutil
import subprocess
import threading

from .base import MXNetError

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus",
           "gpu_memory_info"]


class Context:
    """A device on which arrays live and computation runs."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if device_type not in self.devstr2type:
                raise ValueError("unknown device_type %r; expected one of %s"
                                 % (device_type, sorted(self.devstr2type)))
            self.device_typeid = self.devstr2type[device_type]
            self.device_id = int(device_id)
        self._old_ctx = []

    @property
    def device_type(self):
        """Device name: 'cpu', 'gpu', 'cpu_pinned' or 'cpu_shared'."""
        return self.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self):
        return "%s(%d)" % (self.device_type, self.device_id)

    __repr__ = __str__

    def __enter__(self):
        self._old_ctx.append(current_context())
        Context._default.value = self
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        Context._default.value = self._old_ctx.pop()

    def empty_cache(self):
        """Release cached device memory (nothing is cached here)."""


def cpu(device_id=0):
    """The CPU context."""
    return Context("cpu", device_id)


def gpu(device_id=0):
    """The GPU context with the given id."""
    return Context("gpu", device_id)


def cpu_pinned(device_id=0):
    """The pinned (page-locked) CPU memory context."""
    return Context("cpu_pinned", device_id)


def current_context():
    """The calling thread's default context, initially cpu(0)."""
    value = getattr(Context._default, "value", None)
    if value is None:
        value = Context("cpu", 0)
        Context._default.value = value
    return value


def _nvidia_smi(*args):
    """Run nvidia-smi with args; return its stdout or None when unavailable."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        result = subprocess.run([exe] + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", "replace")


def num_gpus():
    """Number of visible NVIDIA GPUs (0 when none or nvidia-smi is missing)."""
    out = _nvidia_smi("-L")
    if not out:
        return 0
    return sum(1 for line in out.splitlines() if line.strip().startswith("GPU "))


def gpu_memory_info(device_id=0):
    """(free, total) memory in bytes of GPU `device_id`."""
    dev = gpu(device_id)
    out = _nvidia_smi("--query-gpu=memory.free,memory.total",
                      "--format=csv,noheader,nounits", "-i", str(device_id))
    if not out or not out.strip():
        raise MXNetError("gpu_memory_info: no such device %s (visible GPUs: %d)"
                         % (dev, num_gpus()))
    try:
        free_mib, total_mib = [int(v.strip()) for v in out.strip().splitlines()[0].split(",")]
    except ValueError:
        raise MXNetError("gpu_memory_info: cannot read memory of %s from nvidia-smi: %r"
                         % (dev, out)) from None
    return free_mib * 1024 * 1024, total_mib * 1024 * 1024
