"""The GPU strategy of the Executor: the library is CUDA built with nvcc, the arena lives in device
memory and a host mirror with the same layout backs the NumPy views (arg_arrays, grad_arrays,
aux_arrays, outputs, internals).

Synchronisation: a forward call changes only the activations on the device, so afterwards
`outputs` downloads just the output buffers and the writable views (arg_arrays, aux_arrays,
grad_arrays) download nothing; after backward, update or a whole epoch the writable views
download their region (parameters to bound inputs) once, and `internals` the whole arena. A device call first uploads the host-writable part of the mirror (parameters,
gradients, aux states, bound inputs, head gradients) that views were handed out for since the
last upload: looking up one array by name (`arg_arrays['data']`) marks only that buffer, so a
predict loop that writes its batch uploads the batch alone; iterating a dict marks all of it. Optimizer states passed in as host arrays are copied in and back around each call;
whole-epoch sources are uploaded once and kept on the device while their arrays are in use.
"""
import logging

import numpy as np

from .base import MXNetError
from .compiler import build_cuda
from .compiler.target import CudaTarget
from .executor import aligned_zeros


def check_available(ctx):
    """Raise MXNetError when `ctx` (a GPU context) cannot run: no nvcc, no GPU, bad id."""
    from .context import num_gpus
    if build_cuda.nvcc_path() is None:
        raise MXNetError("context %s: nvcc is missing (install the CUDA toolkit, or set NVCC "
                         "or CUDA_HOME); bind on mx.cpu() instead" % ctx)
    count = num_gpus()
    if count == 0:
        raise MXNetError("context %s: no GPU is visible (nvidia-smi lists none); bind on "
                         "mx.cpu() instead" % ctx)
    if ctx.device_id >= count:
        raise MXNetError("context %s: only %d GPU%s visible" % (ctx, count,
                                                               "s are" if count > 1 else " is"))


class _ViewDict(dict):
    """Name -> host view; a lookup marks that buffer for upload, iterating marks them all."""

    def __init__(self, views, spans, mark):
        super().__init__(views)
        self._spans, self._mark = spans, mark

    def __getitem__(self, name):
        value = super().__getitem__(name)
        self._mark([self._spans[name]])
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def _all(self):
        self._mark(list(self._spans.values()))

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()

    def __iter__(self):
        self._all()
        return super().__iter__()

    def copy(self):
        self._all()
        return dict(super().items())


class DeviceTarget(CudaTarget):
    """CUDA through nvcc (compiler/target.py) on GPU `device_id`; the arena is device memory
    behind a host mirror."""

    def __init__(self, device_id, arch=None):
        super().__init__(arch)
        self.device_id = int(device_id)

    def load(self, fp, plan, metric_io, kinds=None):
        built = super().load(fp, plan, metric_io, kinds)
        built.check(built.lib.mxc_init(self.device_id))
        return built

    def memory(self, executor):
        return DeviceMemory(executor)


class DeviceMemory:
    """The arena on the device, the views on a host mirror, copies only where needed."""

    def __init__(self, ex):
        self.ex, plan = ex, ex.plan
        self.lib, self.ffi = ex.lib, ex.ffi
        self._host = self.host_arena = aligned_zeros(plan.size, ex.dtype)
        self._dev = self._alloc(plan.size)
        # the host-writable span: params, grads, aux, bound inputs (contiguous), head grads
        self._upload_span = (plan.param_begin, plan.size - plan.regions["activations"])
        self._head_spans = [(o.grad.offset, o.grad.size) for o in plan.outputs
                            if o.grad is not None]
        args, grads, aux, self._outputs, self._head_grads, self._internals = \
            ex.plan_views(self._host)
        span = lambda t: (t.offset, t.size)  # noqa: E731
        self._arg_arrays = _ViewDict(args, {a.name: span(a.value) for a in plan.args},
                                     self._mark)
        self._grad_arrays = _ViewDict(grads, {a.name: span(a.grad) for a in plan.args
                                              if a.grad is not None}, self._mark)
        self._aux_arrays = _ViewDict(aux, {a.name: span(a.value) for a in plan.aux},
                                     self._mark)
        self._stale = 0                # 0: mirror current; 1: activations changed; 2: all
        self._outputs_fresh = True     # the output buffers were downloaded since the last run
        self._dirty = None             # spans to upload: a set, or None for everything
        self.downloaded = 0            # elements copied device -> host (for tests and benches)
        self._state_dev, self._state_n = self.ffi.NULL, 0
        self._sources = {}             # id(array) -> (array, device pointer)

    def check(self, rc):
        self.ex.check(rc)

    def _alloc(self, n):
        dev = self.lib.mxc_alloc(n)
        if dev == self.ffi.NULL:
            self.check(-1)
        return dev

    def _host_ptr(self, arr, ctype="real"):
        return self.ffi.from_buffer(ctype + "[]", arr)

    # -- device -> host ----------------------------------------------------------------------
    def _download(self, offset, n):
        self.check(self.lib.mxc_download(self._host_ptr(self._host) + offset, self._dev + offset,
                                         n))
        self.downloaded += n

    def sync_host(self, level=1):
        """Bring the host mirror up to date with the device (a no-op when it is): level 1 for
        every buffer, 2 only for those the host may write (after a forward they are current)."""
        if level == 2 and self._stale >= 2:          # the writable buffers only
            begin, end = self._upload_span
            self._download(begin, end - begin)
            self._stale = 1
        elif level == 1 and self._stale >= 1:
            self._download(0, self._host.size)
            self._stale, self._outputs_fresh = 0, True

    def _sync_outputs(self):
        """Download only the output buffers (what predict needs after a forward)."""
        if self._stale and not self._outputs_fresh:
            for o in self.ex.plan.outputs:
                self._download(o.value.offset, o.value.size)
            self._outputs_fresh = True

    # -- host -> device ----------------------------------------------------------------------
    def _mark(self, spans):
        """Views of these (offset, size) spans were handed out: upload them before a call."""
        if self._dirty is not None:
            self._dirty.update(spans)

    def _mark_all(self):
        self._dirty = None

    def _sync_device(self):
        host = self._host_ptr(self._host)
        if self._dirty is None:
            begin, end = self._upload_span
            spans = [(begin, end - begin)] + self._head_spans
        else:
            spans = sorted(self._dirty)
        for off, n in spans:
            self.check(self.lib.mxc_upload(self._dev + off, host + off, n))
        self._dirty = set()

    def call(self, level):
        """Upload what the host wrote and return the device arena for a call that changes
        activations only (1, a forward) or anything (2)."""
        self._sync_device()
        self._stale = max(self._stale, level)
        self._outputs_fresh = False
        return self._dev

    def seed(self, seed):
        """Seed the arena's generator (its header is device-only state)."""
        self.check(self.lib.mxc_seed(self._dev, seed))

    @property
    def mem(self):
        """The device arena, for a direct forward call of the library: reading it uploads the
        bound inputs (a caller may keep their views and write each batch into them) and
        whatever else views were looked up for since the last call."""
        self._mark([(a.value.offset, a.value.size) for a in self.ex.plan.args
                    if a.role in ("data", "label")])
        return self.call(1)

    # -- views ---------------------------------------------------------------------------------
    @property
    def arg_arrays(self):
        self.sync_host(2)
        return self._arg_arrays

    @property
    def grad_arrays(self):
        self.sync_host(2)
        return self._grad_arrays

    @property
    def aux_arrays(self):
        self.sync_host(2)
        return self._aux_arrays

    @property
    def outputs(self):
        """Output arrays (host). After a forward only these buffers are downloaded; an output
        that is also an argument (a variable head) reads the writable mirror."""
        if self._stale >= 2 or any(o.value.offset < self._upload_span[1]
                                   for o in self.ex.plan.outputs):
            self.sync_host(2)
            self._mark_all()
        self._sync_outputs()
        return self._outputs

    @property
    def head_grads(self):
        self.sync_host(2)
        self._mark(self._head_spans)
        return self._head_grads

    @property
    def internals(self):
        """Every named buffer (arguments included, so all are uploaded before the next call)."""
        self.sync_host()
        self._mark_all()
        return self._internals

    # -- optimizer states and whole-pass sources -------------------------------------------
    def state_in(self, state):
        """Copy a host state buffer to the device; returns its device pointer."""
        if state is None:
            return self.ffi.NULL
        if state.dtype != self.ex.dtype or not state.flags.c_contiguous:
            raise MXNetError("optimizer states must be a C-contiguous %s array" % self.ex.dtype)
        if state.size > self._state_n:
            self._free("_state_dev")
            self._state_dev, self._state_n = self._alloc(state.size), state.size
        self.check(self.lib.mxc_upload(self._state_dev, self._host_ptr(state), state.size))
        return self._state_dev

    def state_out(self, state):
        if state is not None:
            self.check(self.lib.mxc_download(self._host_ptr(state), self._state_dev,
                                             state.size))

    def sources(self, arrays):
        """Device pointers of whole-pass source arrays, uploaded once and kept while the same
        arrays come back."""
        for s in arrays:
            if s is not None and (s.dtype != self.ex.dtype or not s.flags.c_contiguous):
                raise MXNetError("sources must be C-contiguous %s arrays" % self.ex.dtype)
        self._release_sources(keep=[s for s in arrays if s is not None])
        return [self._device_source(s) if s is not None else self.ffi.NULL for s in arrays]

    def _device_source(self, arr):
        hit = self._sources.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1]
        dev = self._alloc(arr.size)
        self.check(self.lib.mxc_upload(dev, self._host_ptr(arr), arr.size))
        self._sources[id(arr)] = (arr, dev)
        return dev

    def _release_sources(self, keep=()):
        keep = {id(a) for a in keep}
        for key in [k for k in self._sources if k not in keep]:
            self.lib.mxc_free(self._sources.pop(key)[1])

    def _free(self, name):
        ptr = getattr(self, name, None)
        if ptr is not None and ptr != self.ffi.NULL:
            self.lib.mxc_free(ptr)
        setattr(self, name, self.ffi.NULL)

    def close(self):
        """Free the device memory (the executor is unusable afterwards)."""
        if getattr(self, "lib", None) is None:
            return
        self._release_sources()
        self._free("_state_dev")
        self._free("_dev")

    def __del__(self):
        try:
            self.close()
        except Exception:       # interpreter shutdown: the driver frees the memory anyway
            pass


logging.getLogger(__name__).addHandler(logging.NullHandler())
