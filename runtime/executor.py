"""A compiled graph bound to memory: the arena, NumPy views onto it, and the C entry points.

One Executor = one (graph, shapes, dtype) compile, loaded from the cache when it exists.
"""
import logging
import os
import time

import numpy as np

from .compiler import build as _build
from .compiler import optimizers
from .compiler.plan import METRICS, make_plan

_ALIGN = 64

# Compiled kernels run OpenMP regions between short serial steps. Idle threads that spin long
# (libgomp's default) steal the cores those steps need on a busy machine; sleeping at once
# costs a wake-up per region. A short spin does well on both, unless the user chose a policy.
# (Read by the OpenMP runtime when the first compiled library loads it.)
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "5000")


def _aligned_zeros(n, dtype):
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(n + _ALIGN // itemsize, dtype=dtype)
    shift = (-raw.ctypes.data % _ALIGN) // itemsize
    return raw[shift:shift + n]


def describe_shapes(shapes):
    return ", ".join("%s %s" % (k, tuple(v)) for k, v in shapes.items())


class Executor:
    """Compiles (or loads) `symbol` for `shapes` and exposes its buffers as NumPy arrays."""

    def __init__(self, symbol, shapes, data_names=(), label_names=(), grad_req=None,
                 for_training=True, dtype="float32", logger=None, metric_io=True, fuse=True):
        t0 = time.perf_counter()
        self.symbol = symbol
        self.fuse = fuse
        self.plan = make_plan(symbol, shapes, data_names, label_names, grad_req, dtype,
                              for_training, fuse=fuse)
        outs = self.plan.outputs
        labels = [a for a in self.plan.args if a.role == "label"]
        self.metric_io = (outs[0], labels[0]) if (metric_io and outs and labels) else None
        fp = _build.fingerprint(
            symbol.tojson(), sorted((k, tuple(int(d) for d in v)) for k, v in shapes.items()),
            list(data_names), list(label_names), sorted((grad_req or {}).items()), dtype,
            for_training, fuse, self.metric_io is not None)
        self.built = _build.lookup(fp)
        if self.built is None:
            from .compiler import codegen
            source, header, cdef = codegen.render(self.plan, metric_io=self.metric_io)
            self.built = _build.build(source, header, cdef)
            _build.remember(fp, self.built.key)
        self.lib, self.ffi = self.built.lib, self.built.ffi
        self.dtype = np.dtype(dtype)
        self.arena = _aligned_zeros(self.plan.size, self.dtype)
        self.mem = self.ffi.from_buffer("real[]", self.arena)
        self.arg_arrays = {a.name: self._view(a.value) for a in self.plan.args}
        self.grad_arrays = {a.name: self._view(a.grad) for a in self.plan.args
                            if a.grad is not None}
        self.aux_arrays = {a.name: self._view(a.value) for a in self.plan.aux}
        self.outputs = [self._view(o.value) for o in outs]
        self.head_grads = [self._view(o.grad) if o.grad is not None else None for o in outs]
        for hg in self.head_grads:
            if hg is not None:
                hg[...] = 1
        self.output_names = [o.name for o in outs]
        self.internals = {k: self._view(t) for k, t in self.plan.internals.items()}
        self.param_names = [a.name for a in self.plan.params]
        self.param_span = self.plan.param_end - self.plan.param_begin
        from .random import next_c_seed
        self.lib.mxc_seed(self.mem, next_c_seed())
        self.seconds = time.perf_counter() - t0
        if logger is not None:
            logger.info("bind %s: %s in %.3f s [%s]; memory %s", describe_shapes(shapes),
                        "compiled" if self.built.compiled else "cached", self.seconds,
                        self.built.key[:12], self.plan.summary())

    def _view(self, t):
        return self.arena[t.offset:t.offset + t.size].reshape(t.shape)

    def state_slices(self, n_states):
        """Where each parameter's optimizer states sit in a state buffer (see Plan)."""
        return self.plan.state_slices(n_states)

    def check(self, rc):
        self.built.check(rc)

    def forward(self, is_train):
        self.check(self.lib.mxc_forward(self.mem, 1 if is_train else 0))

    def backward(self):
        self.check(self.lib.mxc_backward(self.mem))

    def _ptr(self, arr, ctype):
        return self.ffi.from_buffer(ctype + "[]", arr) if arr is not None else self.ffi.NULL

    def update(self, state, kind, hyper):
        self.check(self.lib.mxc_update(self.mem, self._ptr(state, "real"),
                                       optimizers.kind_id(kind),
                                       self._ptr(hyper, "double")))

    def train_epoch(self, state, kind, hyper, sources, nsource, rows, metric):
        """Run rows.shape[0] batches in C; returns (nbatch, 2) metric sums and counts."""
        nbatch = rows.shape[0]
        out = np.zeros((nbatch, 2), dtype=np.float64)
        ptrs = [self.ffi.from_buffer("real[]", s) for s in sources]
        src = self.ffi.new("real*[]", ptrs)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.check(self.lib.mxc_train_epoch(
            self.mem, self._ptr(state, "real"), optimizers.kind_id(kind),
            self._ptr(hyper, "double"), src, int(nsource),
            self.ffi.from_buffer("int64_t[]", rows), nbatch, METRICS[metric],
            self.ffi.from_buffer("double[]", out)))
        return out

    def infer_batches(self, sources, nsource, rows, metric="none", outputs=None):
        """Inference forwards over rows.shape[0] gathered batches in one C call.

        sources: one array (or None: left as it is) per data/label input in plan order;
        metric: "none", "acc" or "mse", summed over all batches into the returned (sum, count);
        outputs: None, or per output an array of nbatch times its size (or None to skip).
        """
        nbatch = rows.shape[0]
        res = np.zeros(2, dtype=np.float64)
        src = self.ffi.new("real*[]", [self._ptr(s, "real") for s in sources] or [self.ffi.NULL])
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        outs = self.ffi.NULL
        if outputs is not None:
            outs = self.ffi.new("real*[]", [self._ptr(o, "real") for o in outputs]
                                or [self.ffi.NULL])
        self.check(self.lib.mxc_infer_batches(
            self.mem, src, int(nsource), self.ffi.from_buffer("int64_t[]", rows), nbatch,
            METRICS[metric], self.ffi.from_buffer("double[]", res), outs))
        return res


logging.getLogger(__name__).addHandler(logging.NullHandler())
