"""Graphs with Custom nodes: compiled segments with the Python operators run between them.

The graph's operators in execution order are cut at every Custom node. Each run of compiled
operators between two cuts becomes a symbol of its own, compiled and cached like any graph (one
compiled `Executor` per segment); a Custom node runs its `CustomOp.forward` / `backward` on
NDArrays over the segments' buffers.

A segment's inputs are the original variables it reads (each variable lives in the first
segment that reads it: its arrays are that segment's arena views) and placeholders for every
other tensor it reads (an output of an earlier segment or of a Custom node, or a variable that
lives elsewhere), copied in before the segment runs. Its outputs are the tensors that later
steps or the graph's heads read. Backward walks the steps in reverse: a segment's head
gradients are the gradients gathered for its outputs, its placeholders' gradients are passed
on; a Custom node gets its outputs' gradients and adds what it writes into its inputs'
gradients. Gradients that reach a variable from outside its own segment are added to its
gradient at the end.

`SegmentedExecutor` offers what the compiled `Executor` offers to Module and Symbol.bind
(argument, gradient, aux and output arrays, head gradients, forward, backward, compiled
optimizer updates per segment), so both run graphs with Custom nodes unchanged; there is no
whole-epoch compiled path (fast_path is None), so fit goes batch by batch.
"""
import logging
import time

import numpy as np

from .base import MXNetError
from .compiler.graph import Node, aux_variables, topo_order
from .compiler.ops import custom as _custom
from .compiler.plan import check_inputs
from .compiler.shape import infer_graph_shapes
from .compiler.symbol import Symbol
from .executor import Executor

__all__ = ["SegmentedExecutor", "executor_for", "has_custom"]

_LOG = logging.getLogger("mxc.bind")


def _is_custom(node):
    return node.op is not None and node.op.name == "Custom"


def has_custom(symbol):
    """True when the graph holds a Custom node."""
    return any(_is_custom(n) for n in topo_order(symbol._heads))


def executor_for(symbol, shapes, **kwargs):
    """The executor for `symbol`: one compiled library, or segments around Custom nodes."""
    cls = SegmentedExecutor if has_custom(symbol) else Executor
    return cls(symbol, shapes, **kwargs)


class _Segment:
    """One compiled piece: its executor, its output keys (in head order), and its inputs
    [(variable name in the segment, tensor key, is aux)] that are copied in."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.heads, self.inputs, self.ex = [], [], None


class _CustomStep:
    """One Custom node: its property and operator, input / aux / output keys, the arrays it
    writes its outputs into, and the gradient request of each input."""

    def __init__(self, node):
        self.node = node
        self.prop = _custom.prop_of(node.params, node.name)
        n_arg = len(node.input_names())
        self.in_keys = [(id(c), i) for c, i in node.inputs[:n_arg]]
        self.aux_keys = [(id(c), i) for c, i in node.inputs[n_arg:]]
        self.op, self.outs, self.reqs = None, [], []


class _PlanSummary:
    """What callers read of a plan, over every segment: parameters in segment order, fused
    pairs, total size and the memory summary."""

    def __init__(self, segments):
        plans = [s.ex.plan for s in segments]
        self.params = [a for p in plans for a in p.params]
        self.fused = [f for p in plans for f in p.fused]
        self.size = sum(p.size for p in plans)
        self._plans = plans

    def summary(self):
        return "; ".join("segment %d: %s" % (k, p.summary()) for k, p in enumerate(self._plans))


class _GeneratorHeaders:
    """`arena[:n]` of a compiled executor, over every segment: reading the first n elements
    gives each segment's random generator header one after another; writing them back (the
    same array) restores every segment's header. (Gradient checks save and restore the
    generators this way around each forward.)"""

    def __init__(self, segments, dtype):
        self._segments, self.itemsize = segments, np.dtype(dtype).itemsize

    def __getitem__(self, key):
        parts = [s.ex.arena[key] for s in self._segments]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def __setitem__(self, key, value):
        value = np.asarray(value).reshape(-1)
        if not self._segments:
            return
        n = value.size // len(self._segments)
        for k, s in enumerate(self._segments):
            s.ex.arena[:n] = value[k * n:(k + 1) * n]


class SegmentedExecutor:
    """A graph with Custom nodes, bound for `shapes`: compiled segments and Python operators.
    Takes the compiled Executor's arguments."""

    def __init__(self, symbol, shapes, data_names=(), label_names=(), grad_req=None,
                 for_training=True, dtype="float32", logger=None, metric_io=True, fuse=True,
                 device_id=None, arch=None, optimizer_kinds=None):
        t0 = time.perf_counter()
        self.symbol, self.fuse, self.dtype = symbol, fuse, np.dtype(dtype)
        self.for_training = for_training
        self.device_id = device_id
        heads = symbol._heads
        order = topo_order(heads)
        check_inputs(symbol.list_arguments(), shapes, data_names, label_names)
        self._shapes = self._infer(heads, order, shapes)
        self._data_names, self._label_names = list(data_names), list(label_names)
        self._aux_ids = aux_variables(order)
        self._variables = [n for n in order if n.is_variable]
        self._reqs = self._variable_reqs(grad_req or {})
        self._steps = self._cut(order)
        self._needs = self._gradient_needs(order)
        self._consumers = self._consumer_steps(order)
        self._owner = self._owners()
        kwargs = dict(for_training=for_training, dtype=dtype, logger=logger, metric_io=False,
                      fuse=fuse, device_id=device_id, arch=arch, optimizer_kinds=optimizer_kinds)
        for k, step in enumerate(self._steps):
            if isinstance(step, _Segment):
                self._build_segment(k, step, heads, kwargs)
        self._segments = [s for s in self._steps if isinstance(s, _Segment)]
        self._make_arrays(heads)
        for step in self._steps:
            if isinstance(step, _CustomStep):
                self._build_custom(step)
        self.plan = _PlanSummary(self._segments)
        self.param_names = [a.name for a in self.plan.params]
        self.param_span = sum(s.ex.param_span for s in self._segments)
        self.optimizer_kinds = sorted(set.intersection(
            *[set(s.ex.optimizer_kinds) for s in self._segments])) if self._segments else []
        self.seconds = time.perf_counter() - t0
        log = _LOG if logger is None or logger is logging else logger
        log.info("bind %s: %d Custom node(s), %d compiled segment(s) in %.3f s",
                 ", ".join("%s %s" % (k, tuple(v)) for k, v in shapes.items()),
                 sum(isinstance(s, _CustomStep) for s in self._steps), len(self._segments),
                 self.seconds)

    # -- analysis ---------------------------------------------------------------------------
    @staticmethod
    def _infer(heads, order, shapes):
        inferred = infer_graph_shapes(heads, shapes)
        missing = [n.name for n in order if n.is_variable and not inferred.get((id(n), 0))]
        if missing:
            raise MXNetError("cannot infer the shapes of %s from the given input shapes %s"
                             % (", ".join(missing), dict(shapes)))
        for n in order:
            for i in range(n.num_outputs()):
                if not inferred.get((id(n), i)):
                    raise MXNetError("cannot infer the shape of output %d of node '%s' (%s)"
                                     % (i, n.name, n.op.name))
        return inferred

    def _role(self, var):
        if id(var) in self._aux_ids:
            return "aux"
        if var.name in self._data_names:
            return "data"
        if var.name in self._label_names:
            return "label"
        return "param"

    def _variable_reqs(self, grad_req):
        """{id(variable): 'write' | 'add' | 'null'} as the compiled plan decides them."""
        reqs = {}
        for n in self._variables:
            role = self._role(n)
            if role == "aux" or not self.for_training:
                reqs[id(n)] = "null"
                continue
            req = grad_req.get(n.name, "write" if role == "param" else "null")
            if req not in ("write", "add", "null"):
                raise MXNetError("grad_req for '%s' must be write, add or null, got %r"
                                 % (n.name, req))
            reqs[id(n)] = req
        return reqs

    @staticmethod
    def _cut(order):
        """The steps in execution order: runs of compiled operators and Custom nodes."""
        steps, run = [], []
        for n in order:
            if n.is_variable:
                continue
            if _is_custom(n):
                if run:
                    steps.append(_Segment(run))
                    run = []
                steps.append(_CustomStep(n))
            else:
                run.append(n)
        if run:
            steps.append(_Segment(run))
        return steps

    def _gradient_needs(self, order):
        """Tensor keys that need a gradient: variables with a request, and the outputs of
        every operator with a differentiable input that needs one."""
        needs = {(id(n), 0) for n in self._variables if self._reqs[id(n)] != "null"}
        for n in order:
            if n.is_variable:
                continue
            slots = n.input_names()
            if _is_custom(n):
                hit = any((id(c), i) in needs for c, i in n.inputs[:len(slots)])
            else:
                hit = n.op.differentiable and any(
                    (id(c), i) in needs for slot, (c, i) in zip(slots, n.inputs)
                    if slot not in n.op.no_grad_inputs)
            if hit:
                needs.update((id(n), i) for i in range(n.num_outputs()))
        return needs

    def _consumer_steps(self, order):
        """{tensor key: set of step indices reading it}."""
        step_of = {}
        for k, step in enumerate(self._steps):
            for n in (step.nodes if isinstance(step, _Segment) else [step.node]):
                step_of[id(n)] = k
        out = {}
        for n in order:
            for c, i in n.inputs:
                out.setdefault((id(c), i), set()).add(step_of[id(n)])
        self._step_of = step_of
        return out

    def _owners(self):
        """{id(variable): index of the first segment reading it}."""
        owner = {}
        for n in self._variables:
            segs = sorted(k for k in self._consumers.get((id(n), 0), ())
                          if isinstance(self._steps[k], _Segment))
            if segs:
                owner[id(n)] = segs[0]
        return owner

    # -- building ---------------------------------------------------------------------------
    def _build_segment(self, k, seg, heads, kwargs):
        """The segment's own symbol (copies of its nodes over its variables and placeholders)
        and its compiled executor."""
        inside = {id(n) for n in seg.nodes}
        copies, held, names = {}, {}, set()
        owned = {id(n): n for n in self._variables if self._owner.get(id(n)) == k}
        owned_names = {n.name: n for n in owned.values()}
        names.update(owned_names)
        data, labels, reqs, placeholders = [], [], {}, {}

        def placeholder(c, i):
            key = (id(c), i)
            if key not in held:
                base = c.name if c.is_variable else c.output_name(i)
                name, j = base, 1
                while name in names:
                    name, j = "%s_%d" % (base, j), j + 1
                names.add(name)
                held[key] = Node(None, name)
                placeholders[name] = key
            return held[key]

        def entry(c, i):
            if id(c) in inside:
                return copies[id(c)], i
            if id(c) in owned:
                if id(c) not in copies:
                    copies[id(c)] = Node(None, c.name, dict(c.attrs))
                return copies[id(c)], 0
            return placeholder(c, i), 0

        for n in seg.nodes:
            node = Node(n.op, n.name, dict(n.attrs))
            node._params = n._params
            node.inputs = [entry(c, i) for c, i in n.inputs]
            copies[id(n)] = node
        head_keys = {(id(n), i) for n, i in heads}
        for n in seg.nodes:
            for i in range(n.num_outputs()):
                key = (id(n), i)
                if key in head_keys or self._consumers.get(key, {k}) - {k}:
                    seg.heads.append(key)
        sym = Symbol([(copies[key[0]], key[1]) for key in seg.heads])
        seg_aux = aux_variables(topo_order(sym._heads))
        shapes = {}
        for n in topo_order(sym._heads):
            if not n.is_variable:
                continue
            is_aux = id(n) in seg_aux
            if n.name in placeholders:
                key = placeholders[n.name]
                seg.inputs.append((n.name, key, is_aux))
                if not is_aux:
                    data.append(n.name)
                    reqs[n.name] = "write" if self.for_training and key in self._needs \
                        else "null"
                    shapes[n.name] = self._shapes[key]
                continue
            orig = owned_names[n.name]
            role = self._role(orig)
            if role == "data":
                data.append(n.name)
            elif role == "label":
                labels.append(n.name)
            if not is_aux:
                shapes[n.name] = self._shapes[(id(orig), 0)]
                reqs[n.name] = self._reqs[id(orig)]
        seg.ex = Executor(sym, shapes, data_names=data, label_names=labels, grad_req=reqs,
                          **kwargs)
        seg.out_index = {key: j for j, key in enumerate(seg.heads)}

    def _make_arrays(self, heads):
        """Argument, gradient and aux arrays (the owning segment's views, else arrays of their
        own), the values of Custom outputs, and the head outputs and head gradients."""
        self._value = {}
        self._args, self._grads, self._aux = {}, {}, {}
        for n in self._variables:
            shape = self._shapes[(id(n), 0)]
            k = self._owner.get(id(n))
            ex = self._steps[k].ex if k is not None else None
            if id(n) in self._aux_ids:
                arr = ex.aux_arrays[n.name] if ex is not None else self._zeros(shape)
                self._aux[n.name] = arr
            else:
                arr = ex.arg_arrays[n.name] if ex is not None else self._zeros(shape)
                self._args[n.name] = arr
                if self._reqs[id(n)] != "null":
                    self._grads[n.name] = ex.grad_arrays[n.name] if ex is not None \
                        else self._zeros(shape)
            self._value[(id(n), 0)] = arr
        for step in self._steps:
            if isinstance(step, _Segment):
                for j, key in enumerate(step.heads):
                    self._value[key] = step.ex.outputs[j]
            else:
                node = step.node
                step.outs = [self._zeros(self._shapes[(id(node), i)])
                             for i in range(node.num_outputs())]
                for i, arr in enumerate(step.outs):
                    self._value[(id(node), i)] = arr
        self._head_keys = [(id(n), i) for n, i in heads]
        self.output_names = [n.output_name(i) for n, i in heads]
        self._outputs = [self._value[key] for key in self._head_keys]
        self._head_grads = [self._head_grad(n, i) for n, i in heads]

    # -- views (on a device, a look-up brings the segments' host mirrors up to date) ----------
    def _synced(self, views):
        if self.device_id is not None:
            for s in self._segments:
                self._after_call(s.ex)
        return views

    arg_arrays = property(lambda self: self._synced(self._args), doc="Argument arrays.")
    grad_arrays = property(lambda self: self._synced(self._grads), doc="Gradient arrays.")
    aux_arrays = property(lambda self: self._synced(self._aux), doc="Aux state arrays.")
    outputs = property(lambda self: self._synced(self._outputs), doc="Head outputs.")
    head_grads = property(lambda self: self._head_grads, doc="Head gradients (None: none).")

    def _head_grad(self, node, i):
        """An array of ones for an output that takes a head gradient, else None (a loss, a
        variable, an output that needs no gradient)."""
        key = (id(node), i)
        if node.is_variable or key not in self._needs:
            return None
        step = self._steps[self._step_of[id(node)]]
        if isinstance(step, _Segment):
            if step.ex.head_grads[step.out_index[key]] is None:
                return None
        elif not getattr(step.prop, "need_top_grad_", True):
            return None
        return np.ones(self._shapes[key], dtype=self.dtype)

    def _zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def _build_custom(self, step):
        """The operator the property creates for these shapes, and its gradient requests."""
        from . import operator as _operator
        from .context import cpu, gpu
        ctx = cpu() if self.device_id is None else gpu(self.device_id)
        node = step.node
        shapes = [self._shapes[key] for key in step.in_keys + step.aux_keys]
        try:
            step.op = _operator.create(step.prop, ctx, shapes, self.dtype)
        except MXNetError:
            raise
        except Exception as err:        # noqa: BLE001  (the user's create_operator)
            raise MXNetError("Custom operator '%s' (node '%s'): create_operator failed: %s: %s"
                             % (node.params["op_type"], node.name, type(err).__name__,
                                err)) from None
        n_in, n_out = len(step.in_keys), node.num_outputs()
        deps = step.prop.declare_backward_dependency(
            list(range(n_out)), list(range(n_out, n_out + n_in)),
            list(range(n_out + n_in, 2 * n_out + n_in)))
        step.deps = set(int(d) for d in deps)      # ids: out_grad, then in_data, out_data
        step.reqs = ["write" if self.for_training and key in self._needs else "null"
                     for key in step.in_keys]

    # -- running ----------------------------------------------------------------------------
    def _nd(self, arr):
        from .context import cpu, gpu
        from .ndarray import NDArray
        return NDArray(arr, cpu() if self.device_id is None else gpu(self.device_id))

    @staticmethod
    def _before_call(ex):
        """Every host view may have been written: a device memory uploads them (on the host
        these look-ups cost nothing)."""
        for views in (ex.arg_arrays, ex.grad_arrays, ex.aux_arrays):
            list(views.values())
        ex.head_grads  # noqa: B018 (the look-up marks the head gradients)

    @staticmethod
    def _after_call(ex):
        """Bring the host views (the arrays this executor hands on) up to date."""
        ex.outputs, ex.arg_arrays, ex.grad_arrays, ex.aux_arrays  # noqa: B018

    def forward(self, is_train):
        for step in self._steps:
            if isinstance(step, _Segment):
                self._copy_inputs(step)
                self._before_call(step.ex)
                step.ex.forward(is_train)
                self._after_call(step.ex)
                for name, key, is_aux in step.inputs:
                    if is_aux:              # an aux state the segment may have updated
                        self._value[key][...] = step.ex.aux_arrays[name]
            else:
                self._run_custom_forward(step, is_train)

    def _copy_inputs(self, seg):
        ex = seg.ex
        for name, key, is_aux in seg.inputs:
            dst = ex.aux_arrays[name] if is_aux else ex.arg_arrays[name]
            dst[...] = self._value[key]

    def _call(self, step, what, fn, *args):
        node = step.node
        try:
            fn(*args)
        except MXNetError:
            raise
        except Exception as err:        # noqa: BLE001  (the user's operator)
            raise MXNetError("Custom operator '%s' (node '%s'): %s failed: %s: %s"
                             % (node.params["op_type"], node.name, what, type(err).__name__,
                                err)) from err

    def _run_custom_forward(self, step, is_train):
        in_data = [self._nd(self._value[key]) for key in step.in_keys]
        aux = [self._nd(self._value[key]) for key in step.aux_keys]
        out_data = [self._nd(arr) for arr in step.outs]
        self._call(step, "forward", step.op.forward, bool(is_train),
                   ["write"] * len(out_data), in_data, out_data, aux)

    def backward(self):
        if not self.for_training:
            raise MXNetError("backward: this executor was bound for inference")
        grads = {}

        def gather(key, arr):
            if key in grads:
                grads[key] = grads[key] + arr
            else:
                grads[key] = np.array(arr, dtype=self.dtype, copy=True)

        for key, hg in zip(self._head_keys, self._head_grads):
            if hg is not None:
                gather(key, hg)
        for step in reversed(self._steps):
            if isinstance(step, _Segment):
                self._segment_backward(step, grads, gather)
            elif any(r != "null" for r in step.reqs):
                self._custom_backward(step, grads, gather)
        for n in self._variables:
            if n.name not in self._grads:
                continue
            extra = grads.get((id(n), 0))
            dst = self._grads[n.name]
            if id(n) in self._owner or self._reqs[id(n)] == "add":
                if extra is not None:
                    dst += extra
            else:
                dst[...] = 0 if extra is None else extra

    def _segment_backward(self, seg, grads, gather):
        ex = seg.ex
        for j, key in enumerate(seg.heads):
            hg = ex.head_grads[j]
            if hg is not None:
                hg[...] = grads.get(key, 0)
        self._before_call(ex)
        ex.backward()
        self._after_call(ex)
        for name, key, is_aux in seg.inputs:
            if not is_aux and name in ex.grad_arrays:
                gather(key, ex.grad_arrays[name])

    def _custom_backward(self, step, grads, gather):
        node = step.node
        out_grad = []               # the gradients it declared it reads (else zeros)
        for i, arr in enumerate(step.outs):
            key = (id(node), i)
            given = key in grads and i in step.deps
            out_grad.append(self._nd(grads[key] if given else self._zeros(arr.shape)))
        in_data = [self._nd(self._value[key]) for key in step.in_keys]
        out_data = [self._nd(arr) for arr in step.outs]
        in_grad = [self._nd(self._zeros(self._shapes[key])) for key in step.in_keys]
        aux = [self._nd(self._value[key]) for key in step.aux_keys]
        self._call(step, "backward", step.op.backward, list(step.reqs), out_grad, in_data,
                   out_data, in_grad, aux)
        for key, req, g in zip(step.in_keys, step.reqs, in_grad):
            if req != "null":
                gather(key, np.asarray(g))

    # -- optimizer --------------------------------------------------------------------------
    def use_optimizer(self, kind):
        """True when every parameter lives in a segment and every segment holding parameters
        has (or loads) the kernel `kind`; a parameter only Custom nodes read is updated in
        Python (and so, with it, all)."""
        if any(self._role(n) == "param" and id(n) not in self._owner
               for n in self._variables):
            return False
        return all(s.ex.use_optimizer(kind) for s in self._segments if s.ex.plan.params)

    def state_slices(self, n_states):
        """Each parameter's optimizer states in one state array: the segments' layouts one
        after another."""
        out, base = {}, 0
        for s in self._segments:
            for name, slices in s.ex.state_slices(n_states).items():
                out[name] = [slice(sl.start + base, sl.stop + base) for sl in slices]
            base += n_states * s.ex.param_span
        return out

    def update(self, state, kind, hyper):
        """The compiled optimizer step of every segment on its part of `state` and `hyper`
        (rows in plan.params order)."""
        if self.param_span == 0:
            return
        from .compiler.optimizers import n_states as kernel_states
        n_states = kernel_states(kind)
        base, first = 0, 0
        for s in self._segments:
            nparam, span = len(s.ex.plan.params), s.ex.param_span
            if nparam:
                part = state[base:base + n_states * span] if n_states else state[:1]
                s.ex.update(part, kind, hyper[:, first:first + nparam])
            base += n_states * span
            first += nparam

    @property
    def arena(self):
        """The segments' random generator headers (see _GeneratorHeaders; CPU only)."""
        return _GeneratorHeaders(self._segments, self.dtype)

    def fast_path(self, data_iter, metric=None, optimizer=None):
        """No whole-pass compiled path: the Python operators run per batch."""
        return None

    @property
    def internals(self):
        """Every node output by name (segment internals, Custom outputs) and the variables."""
        out = {}
        for s in self._segments:
            placeholders = {name for name, key, _ in s.inputs}
            out.update({k: v for k, v in s.ex.internals.items() if k not in placeholders})
        for step in self._steps:
            if isinstance(step, _CustomStep):
                for i, arr in enumerate(step.outs[:step.node.num_visible()]):
                    out[step.node.output_name(i)] = arr
        out.update(self._args)
        out.update(self._aux)
        return out

    def close(self):
        for s in self._segments:
            s.ex.close()
