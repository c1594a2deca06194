"""A compiled graph bound to a GPU: the arena lives in device memory; a host mirror with the same
layout backs the NumPy views (arg_arrays, grad_arrays, aux_arrays, outputs, internals).

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
import time

import numpy as np

from .base import MXNetError
from .compiler import build_cuda, codegen, cuda, optimizers
from .compiler.plan import make_plan
from .executor import _aligned_zeros, describe_shapes


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


class CudaExecutor:
    """Compiles (or loads) `symbol` for `shapes` with nvcc and runs it on GPU `device_id`."""

    def __init__(self, symbol, shapes, data_names=(), label_names=(), grad_req=None,
                 for_training=True, dtype="float32", logger=None, metric_io=True,
                 device_id=0, arch=None):
        t0 = time.perf_counter()
        self.symbol = symbol
        self.plan = make_plan(symbol, shapes, data_names, label_names, grad_req, dtype,
                              for_training)
        outs = self.plan.outputs
        labels = [a for a in self.plan.args if a.role == "label"]
        self.metric_io = (outs[0], labels[0]) if (metric_io and outs and labels) else None
        source, cdef = cuda.render(self.plan, metric_io=self.metric_io)
        self.optimizer_kinds = cuda.optimizer_kinds()
        self.built = build_cuda.build(source, cdef, arch=arch)
        self.lib, self.ffi = self.built.lib, self.built.ffi
        self.check(self.lib.mxc_init(int(device_id)))
        self.dtype = np.dtype(dtype)
        plan = self.plan
        self._host = _aligned_zeros(plan.size, self.dtype)
        self._dev = self.lib.mxc_alloc(plan.size)
        if self._dev == self.ffi.NULL:
            self.check(-1)
        # the host-writable span: params, grads, aux, bound inputs (contiguous), head grads
        self._upload_span = (plan.param_begin, plan.size - plan.regions["activations"])
        self._head_spans = [(o.grad.offset, o.grad.size) for o in outs if o.grad is not None]
        span = lambda t: (t.offset, t.size)  # noqa: E731
        self._arg_arrays = _ViewDict({a.name: self._view(a.value) for a in plan.args},
                                     {a.name: span(a.value) for a in plan.args}, self._mark)
        grads = [a for a in plan.args if a.grad is not None]
        self._grad_arrays = _ViewDict({a.name: self._view(a.grad) for a in grads},
                                      {a.name: span(a.grad) for a in grads}, self._mark)
        self._aux_arrays = _ViewDict({a.name: self._view(a.value) for a in plan.aux},
                                     {a.name: span(a.value) for a in plan.aux}, self._mark)
        self._outputs = [self._view(o.value) for o in outs]
        self._head_grads = [self._view(o.grad) if o.grad is not None else None for o in outs]
        self._internals = {k: self._view(t) for k, t in plan.internals.items()}
        for hg in self._head_grads:
            if hg is not None:
                hg[...] = 1
        self.output_names = [o.name for o in outs]
        self.param_names = [a.name for a in plan.params]
        self.param_span = plan.param_end - plan.param_begin
        self._stale = 0                # 0: mirror current; 1: activations changed; 2: all
        self._outputs_fresh = True     # the output buffers were downloaded since the last run
        self._dirty = None             # spans to upload: a set, or None for everything
        self.downloaded = 0            # elements copied device -> host (for tests and benches)
        self._state_dev, self._state_n = self.ffi.NULL, 0
        self._sources = {}             # id(array) -> (array, device pointer)
        from .random import next_c_seed
        self.check(self.lib.mxc_seed(self._dev, next_c_seed()))
        self.seconds = time.perf_counter() - t0
        if logger is not None:
            logger.info("bind %s on gpu(%d): %s in %.3f s [%s, sm_%s]; memory %s",
                        describe_shapes(shapes), device_id,
                        "compiled" if self.built.compiled else "cached", self.seconds,
                        self.built.key[:12], ",".join(self.built.archs), plan.summary())

    # -- host views ------------------------------------------------------------------------
    def _view(self, t):
        return self._host[t.offset:t.offset + t.size].reshape(t.shape)

    def _ptr(self, offset=0):
        return self._dev + offset

    def _host_ptr(self, arr, ctype="real"):
        return self.ffi.from_buffer(ctype + "[]", arr)

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

    def _mark(self, spans):
        """Views of these (offset, size) spans were handed out: upload them before a call."""
        if self._dirty is not None:
            self._dirty.update(spans)

    def _mark_all(self):
        self._dirty = None

    def _sync_outputs(self):
        """Download only the output buffers (what predict needs after a forward)."""
        if self._stale and not self._outputs_fresh:
            for o in self.plan.outputs:
                self._download(o.value.offset, o.value.size)
            self._outputs_fresh = True

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

    def _ran(self, level=2):
        """The device ran: level 1 changed activations only (forward), 2 anything."""
        self._stale = max(self._stale, level)
        self._outputs_fresh = False

    @property
    def mem(self):
        """The device arena, for a direct forward call of the library (as the C executor's
        `mem`): reading it uploads the bound inputs (a caller may keep their views and write
        each batch into them) and whatever else views were looked up for since the last call,
        and marks the activations as changed."""
        self._mark([(a.value.offset, a.value.size) for a in self.plan.args
                    if a.role in ("data", "label")])
        self._sync_device()
        self._ran(1)
        return self._dev

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
                                   for o in self.plan.outputs):
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

    # -- calls -----------------------------------------------------------------------------
    def state_slices(self, n_states):
        """Where each parameter's optimizer states sit in a state buffer (see Plan)."""
        return self.plan.state_slices(n_states)

    def check(self, rc):
        self.built.check(rc)

    def forward(self, is_train):
        self._sync_device()
        self._ran(1)
        self.check(self.lib.mxc_forward(self._dev, 1 if is_train else 0))

    def backward(self):
        self._sync_device()
        self._ran()
        self.check(self.lib.mxc_backward(self._dev))

    def _kind(self, kind):
        if kind not in self.optimizer_kinds:
            raise MXNetError("optimizer kernel '%s' has no CUDA version (available: %s)"
                             % (kind, ", ".join(self.optimizer_kinds)))
        return optimizers.kind_id(kind)

    def _state_in(self, state):
        if state is None:
            return self.ffi.NULL
        state = np.ascontiguousarray(state, dtype=self.dtype)
        if state.size > self._state_n:
            if self._state_dev != self.ffi.NULL:
                self.lib.mxc_free(self._state_dev)
                self._state_dev, self._state_n = self.ffi.NULL, 0
            self._state_dev = self.lib.mxc_alloc(state.size)
            if self._state_dev == self.ffi.NULL:
                self.check(-1)
            self._state_n = state.size
        self.check(self.lib.mxc_upload(self._state_dev, self._host_ptr(state), state.size))
        return self._state_dev

    def _state_out(self, state):
        if state is not None:
            self.check(self.lib.mxc_download(self._host_ptr(state), self._state_dev,
                                             state.size))

    def update(self, state, kind, hyper):
        kid = self._kind(kind)
        self._sync_device()
        dev_state = self._state_in(state)
        self._ran()
        hyper = np.ascontiguousarray(hyper, dtype=np.float64)
        self.check(self.lib.mxc_update(self._dev, dev_state, kid,
                                       self._host_ptr(hyper, "double")))
        self._state_out(state)

    def _device_source(self, arr):
        hit = self._sources.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1]
        dev = self.lib.mxc_alloc(arr.size)
        if dev == self.ffi.NULL:
            self.check(-1)
        self.check(self.lib.mxc_upload(dev, self._host_ptr(arr), arr.size))
        self._sources[id(arr)] = (arr, dev)
        return dev

    def _release_sources(self, keep=()):
        keep = {id(a) for a in keep}
        for key in [k for k in self._sources if k not in keep]:
            self.lib.mxc_free(self._sources.pop(key)[1])

    def train_epoch(self, state, kind, hyper, sources, nsource, rows, metric):
        """Run rows.shape[0] batches on the device; returns (nbatch, 2) metric sums/counts.
        Source arrays are uploaded once and reused while the same arrays come back."""
        kid = self._kind(kind)
        nbatch = rows.shape[0]
        out = np.zeros((nbatch, 2), dtype=np.float64)
        for s in sources:
            if s.dtype != self.dtype or not s.flags.c_contiguous:
                raise MXNetError("train_epoch: sources must be C-contiguous %s arrays"
                                 % self.dtype)
        self._release_sources(keep=sources)
        ptrs = self.ffi.new("real*[]", [self._device_source(s) for s in sources])
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        hyper = np.ascontiguousarray(hyper, dtype=np.float64)
        self._sync_device()
        dev_state = self._state_in(state)
        self._ran()
        self.check(self.lib.mxc_train_epoch(
            self._dev, dev_state, kid, self._host_ptr(hyper, "double"), ptrs, int(nsource),
            self._host_ptr(rows, "int64_t"), nbatch, codegen.METRICS[metric],
            self._host_ptr(out, "double")))
        self._state_out(state)
        return out

    def close(self):
        """Free the device memory (the executor is unusable afterwards)."""
        lib, ffi = getattr(self, "lib", None), getattr(self, "ffi", None)
        if lib is None:
            return
        self._release_sources()
        for name in ("_state_dev", "_dev"):
            ptr = getattr(self, name, None)
            if ptr is not None and ptr != ffi.NULL:
                lib.mxc_free(ptr)
            setattr(self, name, ffi.NULL)

    def __del__(self):
        try:
            self.close()
        except Exception:       # interpreter shutdown: the driver frees the memory anyway
            pass


logging.getLogger(__name__).addHandler(logging.NullHandler())
