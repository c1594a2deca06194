"""A compiled graph bound to memory: the arena, NumPy views onto it, and the entry points.

One Executor = one (graph, shapes, dtype, target) compile, loaded from the cache when it
exists. Everything that decides (binding, which pass may run whole in compiled code, metrics,
the cache hit by fingerprint) is written here once; what differs
between the CPU and a GPU is a small strategy: the target (how the plan becomes a loaded
library) and its memory (a host arena, or a device arena behind a host mirror,
runtime/executor_cuda.py).
"""
import logging
import os
import time

import numpy as np

from .base import MXNetError
from .compiler import optimizers
from .compiler.target import CTarget
from .compiler.plan import METRICS, make_plan

_ALIGN = 64
_COMPILED_METRICS = {"Accuracy": "acc", "MSE": "mse"}

# Compiled kernels run OpenMP regions between short serial steps. Idle threads that spin long
# (libgomp's default) steal the cores those steps need on a busy machine; sleeping at once
# costs a wake-up per region. A short spin does well on both, unless the user chose a policy.
# (Read by the OpenMP runtime when the first compiled library loads it.)
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "5000")


def aligned_zeros(n, dtype):
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(n + _ALIGN // itemsize, dtype=dtype)
    shift = (-raw.ctypes.data % _ALIGN) // itemsize
    return raw[shift:shift + n]


def describe_shapes(shapes):
    return ", ".join("%s %s" % (k, tuple(v)) for k, v in shapes.items())


def compiled_metric(metric):
    """'acc' / 'mse' when the metric is plain Accuracy (axis 1) / MSE over every output and
    label, which the compiled passes count themselves; None for any other metric."""
    kind = _COMPILED_METRICS.get(type(metric).__name__)
    if kind is None or type(metric).__module__ != "mxc.metric":
        return None
    if metric.output_names is not None or metric.label_names is not None:
        return None
    if kind == "acc" and metric.axis != 1:
        return None
    return kind


# -- targets: how a plan becomes a loaded library, and which memory it runs in -------------

class HostTarget(CTarget):
    """C through the system compiler, cached on disk (compiler/target.py); the arena is host
    memory."""

    def memory(self, executor):
        return HostMemory(executor)


class HostMemory:
    """The arena is a host array; the views are the arena itself, so nothing is copied."""

    downloaded = 0

    def __init__(self, ex):
        self.ex = ex
        self.arena = self.host_arena = aligned_zeros(ex.plan.size, ex.dtype)
        self.relink()
        views = ex.plan_views(self.arena)
        (self.arg_arrays, self.grad_arrays, self.aux_arrays, self.outputs, self.head_grads,
         self.internals) = views

    def relink(self):
        """The arena pointer for the executor's (current) library."""
        self.mem = self.ex.ffi.from_buffer("real[]", self.arena)

    def call(self, level):
        """The arena pointer for a library call that changes activations (1) or anything (2)."""
        return self.mem

    def seed(self, seed):
        self.ex.lib.mxc_seed(self.mem, seed)

    def sources(self, arrays):
        return [self.ex.ptr(s) for s in arrays]

    def state_in(self, state):
        return self.ex.ptr(state)

    def state_out(self, state):
        pass

    def close(self):
        pass


# -- the executor -----------------------------------------------------------------------------

class Executor:
    """Compiles (or loads) `symbol` for `shapes` and exposes its buffers as NumPy arrays.

    device_id None runs on the CPU; an int runs on that GPU (see runtime/executor_cuda.py).
    optimizer_kinds: the optimizer kernels to compile in (None: every one the target has);
    use_optimizer(kind) later loads a library with another one."""

    def __init__(self, symbol, shapes, data_names=(), label_names=(), grad_req=None,
                 for_training=True, dtype="float32", logger=None, metric_io=True, fuse=True,
                 device_id=None, arch=None, optimizer_kinds=None):
        t0 = time.perf_counter()
        self.symbol, self.fuse, self.dtype = symbol, fuse, np.dtype(dtype)
        self.plan = make_plan(symbol, shapes, data_names, label_names, grad_req, dtype,
                              for_training, fuse=fuse)
        outs = self.plan.outputs
        labels = [a for a in self.plan.args if a.role == "label"]
        self.metric_io = (outs[0], labels[0]) if (metric_io and outs and labels) else None
        if device_id is None:
            self.target = HostTarget()
        else:
            from .executor_cuda import DeviceTarget
            self.target = DeviceTarget(device_id, arch)
        self._fp_parts = (
            self.target.name,
            symbol.tojson(), sorted((k, tuple(int(d) for d in v)) for k, v in shapes.items()),
            list(data_names), list(label_names), sorted((grad_req or {}).items()), dtype,
            for_training, fuse, self.metric_io is not None)
        self._load(self.target.optimizer_kinds(optimizer_kinds))
        self.memory = self.target.memory(self)
        for hg in self.memory.head_grads:
            if hg is not None:
                hg[...] = 1
        self.output_names = [o.name for o in outs]
        self.param_names = [a.name for a in self.plan.params]
        self.param_span = self.plan.param_end - self.plan.param_begin
        self._inputs = [a for a in self.plan.args if a.role in ("data", "label")]
        from .random import next_c_seed, seedings
        self.memory.seed(next_c_seed())
        self._seedings = seedings()
        self.seconds = time.perf_counter() - t0
        log = _BIND_LOG if logger is None or logger is logging else logger
        if log.isEnabledFor(logging.INFO):
            log.info("bind %s%s: %s in %.3f s [%s%s]; memory %s", describe_shapes(shapes),
                     "" if device_id is None else " on gpu(%d)" % device_id,
                     "compiled" if self.built.compiled else "cached", self.seconds,
                     self.built.key[:12], self.target.describe(self.built),
                     self.plan.summary())

    def _load(self, kinds):
        """Load (or compile) the library carrying the optimizer kernels `kinds`."""
        fp = self.target.fingerprint(*(self._fp_parts + (sorted(kinds),)))
        self.built = self.target.load(fp, self.plan, self.metric_io, kinds)
        self.lib, self.ffi = self.built.lib, self.built.ffi
        self.optimizer_kinds = kinds

    def use_optimizer(self, kind):
        """Make the optimizer kernel `kind` available: a no-op when compiled in, else the
        library with it (the same graph; cached like any other) replaces the current one over
        the same arena. False when the target has no such kernel."""
        if kind in self.optimizer_kinds:
            return True
        if kind not in self.target.optimizer_kinds():
            return False
        self._load([kind])
        self.memory.relink()
        return True

    def plan_views(self, arena):
        """(arg, grad, aux dicts; outputs, head grads lists; internals dict) over `arena`."""
        plan = self.plan

        def view(t):
            return arena[t.offset:t.offset + t.size].reshape(t.shape)
        return ({a.name: view(a.value) for a in plan.args},
                {a.name: view(a.grad) for a in plan.args if a.grad is not None},
                {a.name: view(a.value) for a in plan.aux},
                [view(o.value) for o in plan.outputs],
                [view(o.grad) if o.grad is not None else None for o in plan.outputs],
                {k: view(t) for k, t in plan.internals.items()})

    # -- views (the memory decides what a look-up synchronises) ------------------------------
    arg_arrays = property(lambda self: self.memory.arg_arrays)
    grad_arrays = property(lambda self: self.memory.grad_arrays)
    aux_arrays = property(lambda self: self.memory.aux_arrays)
    outputs = property(lambda self: self.memory.outputs)
    head_grads = property(lambda self: self.memory.head_grads)
    internals = property(lambda self: self.memory.internals)
    arena = property(lambda self: self.memory.arena, doc="The host arena (CPU only).")

    # MXNet's executor dictionaries, as NDArrays over the same memory (what scripts reach
    # through Module._exec_group.execs[k]); for a device arena, its host copies
    arg_dict = property(lambda self: self._nd_dict(self.arg_arrays))
    grad_dict = property(lambda self: self._nd_dict(self.grad_arrays))
    aux_dict = property(lambda self: self._nd_dict(self.aux_arrays))

    @staticmethod
    def _nd_dict(views):
        from .ndarray import NDArray
        return {name: NDArray(view) for name, view in views.items()}

    def backward_internals(self):
        """{name: array} of the input gradients every backward pass wrote (the plan's
        backward_internals, MXNet's backward-node outputs), zeros for those not computed."""
        self.memory.internals                   # noqa: B018 (the whole arena, synchronised)
        arena = self.memory.host_arena
        out = {}
        for name, (t, shape) in self.plan.backward_internals.items():
            out[name] = (arena[t.offset:t.offset + t.size].reshape(t.shape) if t is not None
                         else np.zeros(shape, arena.dtype))
        return out

    @property
    def mem(self):
        """The arena pointer, for a direct forward call of the library."""
        return self.memory.mem

    @property
    def downloaded(self):
        """Elements copied device -> host so far (0 on the host; for tests and benches)."""
        return self.memory.downloaded

    @downloaded.setter
    def downloaded(self, value):
        self.memory.downloaded = value

    def state_slices(self, n_states):
        """Where each parameter's optimizer states sit in a state buffer (see Plan)."""
        return self.plan.state_slices(n_states)

    def check(self, rc):
        self.built.check(rc)

    def ptr(self, arr, ctype="real"):
        return self.ffi.from_buffer(ctype + "[]", arr) if arr is not None else self.ffi.NULL

    def _kind(self, kind):
        if not self.use_optimizer(kind):
            raise MXNetError("optimizer kernel '%s' is not compiled for this target (available: "
                             "%s)" % (kind, ", ".join(self.target.optimizer_kinds())))
        return optimizers.kind_id(kind)

    # -- entry points ----------------------------------------------------------------------
    def _follow_seed(self):
        """After an mx.random.seed, the arena's generator restarts from the seeded stream (MXNet
        reseeds the generators of executors bound before the seed too)."""
        from .random import next_c_seed, seedings
        if self._seedings != seedings():
            self._seedings = seedings()
            self.memory.seed(next_c_seed())

    def forward(self, is_train):
        self._follow_seed()
        self.check(self.lib.mxc_forward(self.memory.call(1), 1 if is_train else 0))

    def backward(self):
        self.check(self.lib.mxc_backward(self.memory.call(2)))

    def update(self, state, kind, hyper):
        kid = self._kind(kind)
        hyper = np.ascontiguousarray(hyper, dtype=np.float64)
        mem = self.memory.call(2)
        self.check(self.lib.mxc_update(mem, self.memory.state_in(state), kid,
                                       self.ptr(hyper, "double")))
        self.memory.state_out(state)

    def train_epoch(self, state, kind, hyper, sources, nsource, rows, metric):
        """Run rows.shape[0] training batches in compiled code; returns (nbatch, 2) metric
        sums and counts."""
        self._follow_seed()
        kid = self._kind(kind)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        hyper = np.ascontiguousarray(hyper, dtype=np.float64)
        out = np.zeros((rows.shape[0], 2), dtype=np.float64)
        src = self.ffi.new("real*[]", self.memory.sources(sources))
        mem = self.memory.call(2)
        self.check(self.lib.mxc_train_epoch(
            mem, self.memory.state_in(state), kid, self.ptr(hyper, "double"), src,
            int(nsource), self.ptr(rows, "int64_t"), rows.shape[0], METRICS[metric],
            self.ptr(out, "double")))
        self.memory.state_out(state)
        return out

    @property
    def compiled_inference(self):
        """True when the library has the whole-pass inference entry point (with metrics)."""
        return hasattr(self.lib, "mxc_infer_batches")

    def infer_batches(self, sources, nsource, rows, metric="none", outputs=None):
        """Inference forwards over rows.shape[0] gathered batches.

        sources: one array (or None: left as it is) per data/label input in plan order;
        metric: "none", "acc" or "mse", summed over all batches into the returned (sum, count);
        outputs: None, or per output an array of nbatch times its size (or None to skip).
        One compiled call where the library has it, else a forward per batch."""
        self._follow_seed()
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if not self.compiled_inference:
            return self._infer_batch_by_batch(sources, rows, metric, outputs)
        res = np.zeros(2, dtype=np.float64)
        src = self.ffi.new("real*[]", self.memory.sources(sources) or [self.ffi.NULL])
        outs = self.ffi.NULL
        if outputs is not None:
            outs = self.ffi.new("real*[]", [self.ptr(o) for o in outputs] or [self.ffi.NULL])
        self.check(self.lib.mxc_infer_batches(
            self.memory.call(1), src, int(nsource), self.ptr(rows, "int64_t"), rows.shape[0],
            METRICS[metric], self.ptr(res, "double"), outs))
        return res

    def _infer_batch_by_batch(self, sources, rows, metric, outputs):
        if metric != "none":
            raise MXNetError("this library has no compiled inference metrics (metric %r)"
                             % metric)
        for b, idx in enumerate(rows):
            for a, src in zip(self._inputs, sources):
                if src is not None:
                    dst = self.arg_arrays[a.name]
                    dst[...] = np.take(src, idx, axis=0).reshape(dst.shape)
            self.forward(False)
            for o, dst in zip(self.outputs, outputs or ()):
                if dst is not None:
                    dst.reshape(rows.shape[0], -1)[b] = o.ravel()
        return np.zeros(2, dtype=np.float64)

    # -- whole passes over an iterator -------------------------------------------------------
    def fast_path(self, data_iter, metric=None, optimizer=None):
        """A callable that runs one whole pass over `data_iter` in compiled calls, or None
        when this pass must go batch by batch (any other iterator, shape or dtype).

        optimizer None: inference; run() returns the merged outputs (pads trimmed) when
        metric is None, else adds every batch to `metric` and returns the batch count.
        optimizer (state, kind, hyper_rows(nbatch)): training; run(batch_end) adds each
        batch to `metric`, calls batch_end(nbatch) after each batch when given (one batch per
        call then), and returns the batch count."""
        training = optimizer is not None
        kind = compiled_metric(metric) if metric is not None else None
        if training and (kind is None or self.metric_io is None
                         or not self.use_optimizer(optimizer[1])):
            return None
        if metric is not None and len(self.plan.outputs) != 1:
            return None
        epoch = self._epoch_sources(data_iter, need_labels=metric is not None)
        if epoch is None:
            return None
        if training:
            return lambda batch_end=None: self._train_pass(data_iter, epoch, metric, kind,
                                                            optimizer, batch_end)
        if metric is None:
            if any(o.ndim == 0 or o.shape[0] != data_iter.batch_size for o in self.outputs) \
                    or any(epoch[3][:-1]):
                return None
            return lambda: self._predict_pass(data_iter, epoch)
        if kind is None or self.metric_io is None or not self.compiled_inference:
            return lambda: self._score_pass_outputs(data_iter, epoch, metric)
        return lambda: self._score_pass(data_iter, epoch, metric, kind)

    def _epoch_sources(self, data_iter, need_labels):
        """(sources, nsource, rows, pads) over an NDArrayIter's arrays for the bound inputs
        (in plan order), or None when the iterator, its shapes or dtypes do not allow it."""
        from .io import NDArrayIter
        if type(data_iter) is not NDArrayIter:
            return None
        bs = data_iter.batch_size
        arrays = dict(data_iter.data)
        labels = dict(data_iter.label)
        if sorted(arrays) != sorted(a.name for a in self._inputs if a.role == "data"):
            return None
        arrays.update(labels)
        sources = []
        for a in self._inputs:
            arr = arrays.get(a.name)
            if arr is None:
                if a.role == "data" or need_labels or labels:
                    return None
                sources.append(None)
                continue
            src = arr._data
            shape = a.value.shape
            if src.dtype != self.dtype or not src.flags.c_contiguous or src.ndim == 0 \
                    or not shape or shape[0] != bs \
                    or src.size // max(1, src.shape[0]) != a.value.size // shape[0]:
                return None
            if a.role == "data" and tuple(src.shape[1:]) != tuple(shape[1:]):
                return None
            sources.append(src)
        if need_labels and (self.metric_io is None or
                            [n for n, _ in data_iter.label] != [self.metric_io[1].name]):
            return None
        present = [s for s in sources if s is not None]
        plan = data_iter._fast_epoch_plan()
        if not present or plan is None or plan[0].shape[0] == 0:
            return None
        return sources, min(s.shape[0] for s in present), plan[0], plan[1]

    def _train_pass(self, data_iter, epoch, metric, kind, optimizer, batch_end):
        sources, nsource, rows, _pads = epoch
        state, opt_kind, hyper_rows = optimizer
        step = 1 if batch_end is not None else rows.shape[0]
        for begin in range(0, rows.shape[0], step):
            chunk = rows[begin:begin + step]
            res = self.train_epoch(state, opt_kind, hyper_rows(chunk.shape[0]), sources,
                                   nsource, chunk, kind)
            metric._add(float(res[:, 0].sum()), int(round(res[:, 1].sum())))
            if batch_end is not None:
                batch_end(begin)
        data_iter._fast_epoch_done()
        return rows.shape[0]

    def _score_pass(self, data_iter, epoch, metric, kind):
        sources, nsource, rows, _pads = epoch
        res = self.infer_batches(sources, nsource, rows, kind)
        metric._add(float(res[0]), int(round(res[1])))
        data_iter._fast_epoch_done()
        return rows.shape[0]

    def _all_outputs(self, epoch):
        sources, nsource, rows, _pads = epoch
        n = rows.shape[0] * rows.shape[1]
        outs = [np.empty((n,) + o.shape[1:], dtype=self.dtype) for o in self.outputs]
        self.infer_batches(sources, nsource, rows, "none", outs)
        return outs

    def _predict_pass(self, data_iter, epoch):
        from .ndarray import NDArray
        outs = self._all_outputs(epoch)
        keep = outs[0].shape[0] - epoch[3][-1]
        data_iter._fast_epoch_done()
        return [NDArray(o[:keep]) for o in outs]

    def _score_pass_outputs(self, data_iter, epoch, metric):
        """Every batch's outputs in one pass, then the metric's own update per batch."""
        from .ndarray import NDArray
        sources, _nsource, rows, _pads = epoch
        bs = rows.shape[1]
        outs = self._all_outputs(epoch)
        labels = [(a.name, s) for a, s in zip(self._inputs, sources) if a.role == "label"]
        for b, idx in enumerate(rows):
            metric.update_dict({name: NDArray(np.take(s, idx, axis=0)) for name, s in labels},
                               {name: NDArray(o[b * bs:(b + 1) * bs])
                                for name, o in zip(self.output_names, outs)})
        data_iter._fast_epoch_done()
        return rows.shape[0]

    def close(self):
        """Free what the memory holds outside Python (device memory)."""
        memory = getattr(self, "memory", None)
        if memory is not None:
            memory.close()


logging.getLogger(__name__).addHandler(logging.NullHandler())
_BIND_LOG = logging.getLogger("mxc.bind")      # mxc's own messages never touch the root logger
