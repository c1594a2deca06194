"""Symbol.bind / Symbol.simple_bind and MXNet 1.x's Executor, over the one compiled Executor.

The compiled `Executor` (runtime/executor.py) owns an arena; this layer gives MXNet's view of
it: lists and dicts of NDArrays for arguments, gradients, auxiliary states and outputs.

Every array the user sees is one of two kinds:
- a view of the arena (what simple_bind creates): nothing is copied, a write by the user is
  what the next forward reads, and the outputs are refreshed by each forward in place;
- an array the user handed in (bind's args / args_grad / aux_states, arrays shared with
  another executor, the memory a reshape reuses): the executor keeps that very NDArray, copies
  it into the arena before each call and copies results (gradients, auxiliary states,
  outputs) back into it after each call.

The library computes every argument's gradient, so one compile serves a graph and its shapes
whatever grad_req asks: 'write' hands the gradient out as it is, 'add' adds it to an array
kept apart from the arena, 'null' hands out none.

float16 is stored, not computed, as MXNet's CPU float16 operators do in effect (they
accumulate in float32): a float16 executor runs the float32 library (shared with float32
binds of the same graph and shapes), and every array that type inference makes float16 (all
of a float16 executor's but index-only arguments; a Cast to float16's output in a float32
one) is a float16 array kept apart from the arena, converted on its way in before each call
and on its way out after.
"""
import logging
import os

import numpy as np

from .base import MXNetError
from .compiler.plan import DTYPES
from .context import Context, current_context
from .ndarray import NDArray
from .segmented_executor import executor_for

__all__ = ["Executor", "bind", "simple_bind"]

_REQS = ("write", "add", "null")
_STORED = {"float16": "float32"}
INFERENCE_LIBRARY_BYTES = 4 << 20   # below this, a gradient-free bind keeps the training library    # dtype held at the API -> dtype the library computes


class ExecutorArgumentError(MXNetError, ValueError):
    """A bind / forward / backward argument that does not fit the symbol (MXNet raises
    ValueError for these, so both kinds of handler catch it)."""


class ExecutorTypeError(MXNetError, TypeError):
    """An argument of the wrong type (MXNet raises TypeError for these)."""


# -- small checks and conversions ---------------------------------------------------------------

def _as_context(ctx):
    if ctx is None:
        return current_context()
    if isinstance(ctx, (list, tuple)):
        if len(ctx) != 1:
            raise ExecutorArgumentError("an executor runs on one context, got %d" % len(ctx))
        ctx = ctx[0]
    if not isinstance(ctx, Context):
        raise ExecutorTypeError("ctx must be a Context (mx.cpu() / mx.gpu(i)), got %s"
                                % type(ctx).__name__)
    return ctx


def _placement(symbol, ctx, group2ctx):
    """{variable name: Context}: the context of its ctx_group in group2ctx, else ctx. The
    graph runs on ctx's device; a group's context labels the arrays of its variables, so
    it must be a device of the same type."""
    if not group2ctx:
        return {}
    if not isinstance(group2ctx, dict):
        raise ExecutorTypeError("group2ctx must be a dict of group name to Context, got %s"
                                % type(group2ctx).__name__)
    for group, gctx in group2ctx.items():
        if not isinstance(gctx, Context) or gctx.device_type != ctx.device_type:
            raise MXNetError("group2ctx['%s'] = %s: an executor bound on %s runs every group "
                             "on one %s device" % (group, gctx, ctx, ctx.device_type))
    return {name: group2ctx[attrs["ctx_group"]] for name, attrs in symbol.attr_dict().items()
            if attrs.get("ctx_group") in group2ctx}


def _device_id(ctx):
    if ctx.device_type != "gpu":
        return None
    from .executor_cuda import check_available
    check_available(ctx)
    return ctx.device_id


def _numpy_of(value, what):
    """The NumPy data of an NDArray or ndarray (no copy for an NDArray)."""
    if isinstance(value, NDArray):
        return np.asarray(value)
    if isinstance(value, np.ndarray):
        return value
    raise ExecutorTypeError("%s must be an NDArray or numpy.ndarray, got %s"
                            % (what, type(value).__name__))


def _same_memory(a, b):
    return a.ctypes.data == b.ctypes.data and a.nbytes == b.nbytes


def _copy_into(dst, src, what):
    """dst[...] = src for arrays of the same shape (a size-1 source fills a size-1 target)."""
    if tuple(dst.shape) != tuple(src.shape) and not (dst.size == src.size == 1):
        raise ExecutorArgumentError("%s: shape %s does not match the bound shape %s"
                                    % (what, tuple(src.shape), tuple(dst.shape)))
    dst[...] = src.reshape(dst.shape)


def _grad_reqs(names, grad_req):
    """{argument: 'write' | 'add' | 'null'} from a string, a list (list_arguments order) or a
    dict (missing names: 'null'), as MXNet reads grad_req."""
    if isinstance(grad_req, str):
        reqs = {n: grad_req for n in names}
    elif isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(names):
            raise ExecutorArgumentError("grad_req has %d entries for %d arguments (%s)"
                                        % (len(grad_req), len(names), ", ".join(names)))
        reqs = dict(zip(names, grad_req))
    elif isinstance(grad_req, dict):
        unknown = sorted(set(grad_req) - set(names))
        if unknown:     # MXNet reads the dict by argument name and ignores other keys
            logging.getLogger("mxc.executor").debug(
                "grad_req names %s, not an argument of the symbol (arguments: %s): ignored",
                ", ".join(unknown), ", ".join(names))
        reqs = {n: grad_req.get(n, "null") for n in names}
    else:
        raise ExecutorTypeError("grad_req must be a string, list or dict, got %s"
                                % type(grad_req).__name__)
    for name, req in reqs.items():
        if req not in _REQS:
            raise ExecutorArgumentError("grad_req for '%s' must be write, add or null, got %r"
                                        % (name, req))
    return reqs


def _dtype_from_types(type_dict, symbol):
    """The one dtype an mxc executor holds (float32 unless type_dict names another), by type
    inference: integer arguments read only as indices keep their own type."""
    from .compiler.typeinfer import executor_dtype
    return executor_dtype(symbol, type_dict, tuple(DTYPES) + tuple(_STORED))


def _dtype_from_arrays(arrays):
    """float64 (float16) when every argument handed to bind is float64 (float16), else
    float32."""
    kinds = {np.dtype(a.dtype).name for a in arrays}
    if len(kinds) == 1 and next(iter(kinds)) in ("float64",) + tuple(_STORED):
        return next(iter(kinds))
    return "float32"


def _reached_by_gradient(symbol, into_index_inputs=True):
    """The nodes a head's gradient reaches, in reverse topological order: it passes through
    differentiable operators (BlockGrad / stop_gradient stop it) into all their inputs, or,
    with into_index_inputs=False, only into those that take a gradient (not indices)."""
    from .compiler.graph import topo_order
    heads = symbol._heads
    reached = {id(n) for n, _ in heads}
    for node in reversed(topo_order(heads)):
        if id(node) not in reached:
            continue
        yield node
        if node.op is None or not node.op.differentiable:
            continue
        names = node.input_names()
        reached.update(id(c) for k, (c, _) in enumerate(node.inputs)
                       if into_index_inputs or k >= len(names)
                       or names[k] not in node.op.no_grad_inputs)


def _check_gradient_path(symbol, reqs):
    """As MXNet's gradient pass: when any gradient is asked for, every operator that a head's
    gradient reaches (not stopped by a zero-gradient operator such as BlockGrad) must have
    a gradient; one without (batch_take, argmax_channel) is an error naming it."""
    if all(r == "null" for r in reqs.values()):
        return
    for node in _reached_by_gradient(symbol):
        if node.op is not None and node.inputs and not node.op.has_gradient:
            raise MXNetError("Operator %s (node '%s') is non-differentiable because it didn't "
                             "register FGradient attribute; stop the gradient before it "
                             "(BlockGrad / stop_gradient) or bind with grad_req='null'"
                             % (node.op.name, node.name))


def _arguments_reached_by_gradient(symbol):
    """Names of the arguments that a head's gradient reaches through differentiable inputs
    (BlockGrad / stop_gradient and index inputs stop it)."""
    return {n.name for n in _reached_by_gradient(symbol, into_index_inputs=False)
            if n.op is None}


def _optimized_symbol(symbol):
    """The graph the executor compiles: `symbol` after common subexpression elimination
    (MXNET_ELIMINATE_COMMON_EXPR, on unless set to 0, as in MXNet); its arguments, auxiliary
    states and outputs are those of `symbol`, in the same order."""
    if os.environ.get("MXNET_ELIMINATE_COMMON_EXPR", "1") == "0":
        return symbol
    from .compiler.cse import eliminate_common_expr
    heads = eliminate_common_expr(symbol._heads)
    if heads == symbol._heads:
        return symbol
    optimized = type(symbol)(heads)
    same = (optimized.list_arguments() == symbol.list_arguments()
            and optimized.list_auxiliary_states() == symbol.list_auxiliary_states())
    return optimized if same else symbol


def _check_stypes(stype_dict):
    """csr / row_sparse arguments are bound as the dense arrays they stand for (the
    executor computes densely); an unknown storage type is refused."""
    for name, stype in (stype_dict or {}).items():
        if stype not in ("default", "row_sparse", "csr"):
            raise MXNetError("argument '%s': unknown storage type %r (expected 'default', "
                             "'row_sparse' or 'csr')" % (name, stype))


def _named_arrays(names, arrays, what, allow_missing):
    """{name: NDArray} from a list (in `names` order) or a dict; entries may be None when
    allow_missing."""
    if arrays is None:
        return {}
    if isinstance(arrays, (list, tuple)):
        if len(arrays) != len(names):
            raise ExecutorArgumentError("%s: %d arrays for %d names (%s)"
                                        % (what, len(arrays), len(names), ", ".join(names)))
        named = dict(zip(names, arrays))
    elif isinstance(arrays, dict):
        missing = [n for n in names if n not in arrays]
        if missing and not allow_missing:
            raise ExecutorArgumentError("%s: no array for %s" % (what, ", ".join(missing)))
        named = {n: arrays[n] for n in names if n in arrays}
    else:
        raise ExecutorTypeError("%s must be a list of NDArrays or a dict of str to NDArray, "
                                "got %s" % (what, type(arrays).__name__))
    for name, arr in named.items():
        if arr is None and allow_missing:
            continue
        if not isinstance(arr, NDArray):
            raise ExecutorTypeError("%s['%s'] must be an NDArray, got %s"
                                    % (what, name, type(arr).__name__))
    return {n: a for n, a in named.items() if a is not None}


def _touch_for_upload(ex):
    """Every host view may have been written: have the memory upload them before a call (a
    no-op on the host)."""
    for views in (ex.arg_arrays, ex.grad_arrays, ex.aux_arrays):
        list(views.values())
    ex.head_grads  # noqa: B018 (the lookup marks the head gradients)


# -- the executor -------------------------------------------------------------------------------

class Executor:
    """MXNet's Executor: made by Symbol.bind / Symbol.simple_bind, not directly.

    args / grads / aux / outputs: arrays the caller owns, by name (outputs by index); every
    other array is a view of the compiled arena."""

    def __init__(self, symbol, ctx, reqs, dtype, shapes, args=None, grads=None, aux=None,
                 outputs=None, group2ctx=None, fuse=True, types=None):
        self._symbol, self._ctx, self._stored = symbol, ctx, dtype
        self._dtype = _STORED.get(dtype, dtype)     # what the library computes in
        self._types = dict(types or {})             # {argument: dtype} known at bind
        self._grad_req, self._group2ctx = dict(reqs), group2ctx
        self._shapes = dict(shapes)
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._monitor = None
        _check_gradient_path(symbol, self._grad_req)
        self._optimized = _optimized_symbol(symbol)
        self._exec = self._compile(fuse)
        self._make_arrays(args or {}, grads or {}, aux or {}, outputs or {})
        self._pair_with(self._exec)

    def _compile(self, fuse):
        """The library computes every argument's gradient whatever grad_req says, so one
        library serves every binding of a graph and shapes; 'add' and 'null' are applied when
        the gradients are handed out. When no gradient is asked for, or none can reach an
        argument that asks (stop_gradient), the library is the inference one: no gradient
        buffers, no saved activations, buffers reused by lifetime (MXNet's zero-gradient
        propagation); backward then writes zeros where 'write' asks. A small graph (its
        outputs under INFERENCE_LIBRARY_BYTES) keeps the one training library instead: a
        second compile would cost more than the memory it saves."""
        asked = {n for n, r in self._grad_req.items() if r != "null"}
        self._trains = bool(asked & _arguments_reached_by_gradient(self._symbol))
        compiled_for_training = self._trains or self._activation_bytes() < \
            INFERENCE_LIBRARY_BYTES
        every = {n: "write" if compiled_for_training else "null" for n in self._arg_names}
        return executor_for(self._optimized, self._shapes, grad_req=every,
                            for_training=compiled_for_training, dtype=self._dtype, fuse=fuse,
                            device_id=_device_id(self._ctx), optimizer_kinds=[])

    def _activation_bytes(self):
        """Bytes of every node output of the bound graph (what training keeps alive)."""
        try:
            _, outs, _ = self._symbol.get_internals().infer_shape_partial(**self._shapes)
        except MXNetError:
            return INFERENCE_LIBRARY_BYTES
        return 4 * sum(int(np.prod(o)) for o in outs or () if o)

    def _make_arrays(self, args, grads, aux, outputs):
        """The user-facing NDArrays: the caller's where given (checked against the bound
        shapes), else views of the arena."""
        ex = self._exec
        where = _placement(self._symbol, self._ctx, self._group2ctx)

        apart = self._held_apart()

        def pick(given, view, what, name=None):
            if given is None and name in apart:
                return NDArray(np.zeros(view.shape, apart[name]), where.get(name, self._ctx))
            if given is None:
                return NDArray(view, where.get(name, self._ctx))
            if tuple(given.shape) != tuple(view.shape):
                raise ExecutorArgumentError("%s: array of shape %s for a bound shape %s"
                                            % (what, given.shape, tuple(view.shape)))
            return given
        self.arg_arrays = [pick(args.get(n), ex.arg_arrays[n], "argument '%s'" % n, n)
                           for n in self._arg_names]
        def grad(n):
            req, view = self._grad_req[n], ex.grad_arrays.get(n)
            if req == "null":
                return grads.get(n)     # the caller's array, if any, is never written
            if view is None:            # no gradient reaches it: zeros apart from the arena
                shape = self._shapes.get(n) or ex.arg_arrays[n].shape
                return grads.get(n, NDArray(np.zeros(shape, apart.get(n, self._stored)),
                                            where.get(n, self._ctx)))
            if req == "add" and n not in grads:     # accumulates apart from the arena
                return NDArray(np.zeros(view.shape, apart.get(n, view.dtype)),
                               where.get(n, self._ctx))
            return pick(grads.get(n), view, "gradient of '%s'" % n, n)
        self.grad_arrays = [grad(n) for n in self._arg_names]
        self.aux_arrays = [pick(aux.get(n), ex.aux_arrays[n], "auxiliary state '%s'" % n, n)
                           for n in self._aux_names]
        self.outputs = [pick(outputs.get(i), view, "output '%s'" % name, i) for i, (name, view)
                        in enumerate(zip(self._output_names, ex.outputs))]
        self._arg_dict = dict(zip(self._arg_names, self.arg_arrays))
        self._grad_dict = dict(zip(self._arg_names, self.grad_arrays))
        self._aux_dict = dict(zip(self._aux_names, self.aux_arrays))
        self._output_dict = dict(zip(self._output_names, self.outputs))

    def _held_apart(self):
        """{argument / auxiliary state name or output index: dtype} for the arrays stored in a
        type the arena does not compute (float16 over a float32 arena; integer types, which
        the arena holds exactly as reals), by type inference from the types known at bind.
        Index-only float16 arguments stay in the arena's dtype."""
        if self._dtype not in ("float32", "float64"):
            return {}
        from .compiler.typeinfer import _only_index
        known = {k: v for k, v in self._types.items() if k in self._arg_names}
        try:
            args, outs, aux = self._symbol.infer_type_partial(**known)
        except MXNetError:      # arrays of mixed types handed to bind: computed as given
            return {}
        held = {}
        for names, types in ((self._arg_names, args), (self._aux_names, aux),
                             (range(len(self._output_names)), outs)):
            for name, t in zip(names, types or ()):
                if t is None:
                    continue
                if np.issubdtype(np.dtype(t), np.integer):
                    held[name] = np.dtype(t).name       # declared or inferred integers
                elif self._dtype == "float32" and np.dtype(t).name in _STORED and not (
                        name in self._arg_names and _only_index(self._symbol, name)):
                    held[name] = np.dtype(t).name
        return held

    def _pair_with(self, ex):
        """(user array, arena view) for every user-facing array that is not the arena view
        itself: these are copied around each call."""
        def pairs(arrays, views, names):
            out = []
            for name, arr in zip(names, arrays):
                view = views.get(name) if arr is not None else None
                if view is not None and not _same_memory(np.asarray(arr), view):
                    out.append((name, arr, view))
            return out
        self._arg_pairs = pairs(self.arg_arrays, ex.arg_arrays, self._arg_names)
        self._grad_pairs = pairs(self.grad_arrays, ex.grad_arrays, self._arg_names)
        self._aux_pairs = pairs(self.aux_arrays, ex.aux_arrays, self._aux_names)
        self._out_pairs = pairs(self.outputs, dict(enumerate(ex.outputs)),
                                range(len(self.outputs)))

    # -- dictionaries ----------------------------------------------------------------------
    arg_dict = property(lambda self: self._arg_dict, doc="Argument name -> NDArray.")
    grad_dict = property(lambda self: self._grad_dict,
                         doc="Argument name -> gradient NDArray (None for grad_req 'null').")
    aux_dict = property(lambda self: self._aux_dict, doc="Auxiliary state name -> NDArray.")
    output_dict = property(lambda self: self._output_dict, doc="Output name -> NDArray.")

    # -- copies between the user's arrays and the arena -------------------------------------
    def _copy_in(self, pairs, label):
        for name, arr, view in pairs:
            _copy_into(view, np.asarray(arr), "%s '%s'" % (label, name))

    @staticmethod
    def _copy_out(pairs):
        for _name, arr, view in pairs:
            np.asarray(arr)[...] = view.reshape(arr.shape)

    def _before_call(self):
        ex = self._exec
        self._copy_in(self._arg_pairs, "argument")
        self._copy_in(self._aux_pairs, "auxiliary state")
        _touch_for_upload(ex)

    def _after_call(self):
        """Bring the host views up to date, then the user's own arrays."""
        ex = self._exec
        ex.outputs, ex.arg_arrays, ex.grad_arrays, ex.aux_arrays  # noqa: B018 (synchronise)
        self._copy_out(self._out_pairs)
        self._copy_out(self._aux_pairs)

    def _hand_out_gradients(self):
        """The fresh gradients into the caller's arrays: written, or added for 'add'."""
        for name, arr, view in self._grad_pairs:
            req = self._grad_req[name]
            if req == "write":
                np.asarray(arr)[...] = view.reshape(arr.shape)
            elif req == "add":
                np.asarray(arr)[...] += view.reshape(arr.shape)

    # -- running ---------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Run the graph; keyword arguments are first copied into the argument arrays of the
        same name. Returns the outputs (the same NDArrays every time, refreshed)."""
        for name, value in kwargs.items():
            if name not in self._arg_dict:
                raise ExecutorTypeError("forward: unknown argument '%s' (arguments: %s)"
                                        % (name, ", ".join(self._arg_names)))
            dst = self._arg_dict[name]
            src = _numpy_of(value, "forward argument '%s'" % name)
            if tuple(src.shape) != tuple(dst.shape):
                raise ExecutorArgumentError("forward: argument '%s' has shape %s, the executor "
                                            "is bound for %s" % (name, tuple(src.shape),
                                                                 dst.shape))
            dst[:] = src
        self._before_call()
        self._exec.forward(bool(is_train))
        self._after_call()
        if self._monitor is not None:
            self._report_internals()
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Gradients of the arguments, written (or added, grad_req 'add') into grad_arrays.
        out_grads: the head gradients of outputs that are not losses (NDArray, list, or dict
        by output name); an output without one gets ones. As in MXNet, backward before any
        forward runs over what the buffers hold (zeros after bind): right for operators whose
        gradient does not read forward values (tile, repeat, reshape, ...)."""
        if not self._trains:
            for name, arr in zip(self._arg_names, self.grad_arrays):
                if self._grad_req[name] == "write":
                    np.asarray(arr)[...] = 0
            return
        self._set_head_grads(self._out_grads_list(out_grads))
        self._before_call()
        self._exec.backward()
        self._after_call()
        self._hand_out_gradients()
        if self._monitor is not None and hasattr(self._exec, "backward_internals"):
            callback = self._monitor[0]
            for name, view in self._exec.backward_internals().items():
                callback(name, NDArray(view.astype(self._stored), self._ctx))

    def _out_grads_list(self, out_grads):
        if out_grads is None:
            return []
        if isinstance(out_grads, (NDArray, np.ndarray)):
            return [out_grads]
        if isinstance(out_grads, dict):
            unknown = sorted(set(out_grads) - set(self._output_names))
            if unknown:
                raise ExecutorArgumentError("backward: out_grads names %s, not an output "
                                            "(outputs: %s)" % (", ".join(unknown),
                                                               ", ".join(self._output_names)))
            return [out_grads.get(n) for n in self._output_names]
        if isinstance(out_grads, (list, tuple)):     # as MXNet, entries past the outputs
            return list(out_grads)[:len(self._output_names)]      # are not read
        raise ExecutorTypeError("backward: out_grads must be an NDArray, a list or a dict, "
                                "got %s" % type(out_grads).__name__)

    def _set_head_grads(self, grads):
        for i, head in enumerate(self._exec.head_grads):
            if head is None:            # a loss output: it makes its own gradient
                continue
            given = grads[i] if i < len(grads) else None
            if given is None:
                head[...] = 1
            else:
                _copy_into(head, _numpy_of(given, "out_grads[%d]" % i),
                           "out_grads for output '%s'" % self._output_names[i])

    # -- parameters and shapes ---------------------------------------------------------------
    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copy arrays into the argument / auxiliary arrays of the same names; names the
        symbol lacks are an error unless allow_extra_params."""
        for params, targets, kind in ((arg_params, self._arg_dict, "arguments"),
                                      (aux_params or {}, self._aux_dict,
                                       "auxiliary states")):
            for name, value in params.items():
                if name in targets:
                    _copy_into(np.asarray(targets[name]),
                               _numpy_of(value, "parameter '%s'" % name), "parameter '%s'"
                               % name)
                elif not allow_extra_params:
                    raise ExecutorArgumentError('Find name "%s" that is not in the %s'
                                                % (name, kind))

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes. Arrays whose shape stays are shared with this
        executor; smaller ones reuse the front of this executor's memory; larger ones (only
        with allow_up_sizing) are new."""
        new = {k: tuple(int(d) for d in v) for k, v in kwargs.items()
               if isinstance(v, (tuple, list))}
        arg_shapes, out_shapes, aux_shapes = self._symbol.infer_shape(**new)
        if arg_shapes is None:
            raise MXNetError("reshape: cannot infer every shape from %s" % new)
        share = _Resharer(partial_shaping, allow_up_sizing, new)
        args = share.arrays(self._arg_names, self.arg_arrays, arg_shapes, "arg")
        grads = share.arrays(self._arg_names, self.grad_arrays, arg_shapes, "grad of")
        aux = share.arrays(self._aux_names, self.aux_arrays, aux_shapes, "aux")
        outs = share.arrays(range(len(self.outputs)), self.outputs, out_shapes, "output",
                            checked=False)
        out = Executor(self._symbol, self._ctx, self._grad_req, self._stored,
                       dict(zip(self._arg_names, arg_shapes)), args, grads, aux, outs,
                       self._group2ctx, fuse=self._monitor is None, types=self._types)
        if self._monitor is not None:
            out.set_monitor_callback(*self._monitor)
        return out

    # -- monitoring and text ------------------------------------------------------------------
    def set_monitor_callback(self, callback, monitor_all=False):
        """After each forward, call callback(name, NDArray) for every operator output (and,
        with monitor_all, every argument and auxiliary state too). The graph is rebound
        unfused so that every internal output exists."""
        if self._monitor is None:
            self._rebind_unfused()
        self._monitor = (callback, bool(monitor_all))

    def _rebind_unfused(self):
        """A library without fusion; the arrays handed out so far stay the executor's arrays
        (copied into the new arena around each call)."""
        self._exec = self._compile(fuse=False)
        self._pair_with(self._exec)

    def _report_internals(self):
        callback, monitor_all = self._monitor
        inputs = set(self._arg_names) | set(self._aux_names)
        for name, view in self._exec.internals.items():
            if monitor_all or name not in inputs:
                callback(name, NDArray(view.astype(self._stored), self._ctx))

    def get_optimized_symbol(self):
        """The graph this executor runs, after common subexpression elimination (a Symbol)."""
        return self._optimized

    def debug_str(self):
        """The bound graph in words: outputs, arguments with shapes and gradient requests,
        auxiliary states, and the compiled memory plan."""
        ex = self._exec
        lines = ["Symbol Outputs:"]
        lines += ["\toutput[%d]=%s %s" % (i, n, tuple(o.shape))
                  for i, (n, o) in enumerate(zip(self._output_names, self.outputs))]
        for name, arr in zip(self._arg_names, self.arg_arrays):
            lines.append("Variable:%s %s grad_req=%s" % (name, arr.shape,
                                                         self._grad_req[name]))
        for name, arr in zip(self._aux_names, self.aux_arrays):
            lines.append("Auxiliary:%s %s" % (name, arr.shape))
        for producer, consumer in ex.plan.fused:
            lines.append("Fused: %s into %s" % (producer, consumer))
        lines.append("Memory: %s" % ex.plan.summary())
        lines.append("Total %d MB allocated" % (ex.plan.size * ex.dtype.itemsize // 2 ** 20))
        return "\n".join(lines)

    def __repr__(self):
        return "<Executor %s on %s>" % (", ".join(self._output_names), self._ctx)


class _Resharer:
    """MXNet's reshape rules for one array: same shape: shared; smaller: a view of the front
    of the old memory; larger: new (allow_up_sizing). A shape that changes without being
    given is an error unless partial_shaping."""

    def __init__(self, partial_shaping, allow_up_sizing, given):
        self.partial, self.up, self.given = partial_shaping, allow_up_sizing, given

    def arrays(self, names, olds, shapes, kind, checked=True):
        out = {}
        for name, old, shape in zip(names, olds, shapes):
            if old is None:
                continue
            arr = self.array(name, old, tuple(shape), kind, checked)
            if arr is not None:
                out[name] = arr
        return out

    def array(self, name, old, shape, kind, checked):
        if shape == tuple(old.shape):
            return old
        if checked and name not in self.given and not self.partial:
            raise ExecutorArgumentError(
                "reshape: the shape of %s '%s' changes from %s to %s; pass partial_shaping="
                "True to allow shapes that were not given to change" % (kind, name, old.shape,
                                                                       shape))
        size = int(np.prod(shape))
        if size > old.size:
            if checked and not self.up:
                raise ExecutorArgumentError(
                    "reshape: %s '%s' grows from %s to %s; pass allow_up_sizing=True (making "
                    "the big executor first and sizing down is cheaper)" % (kind, name,
                                                                           old.shape, shape))
            return None
        return NDArray(np.asarray(old).reshape(-1)[:size].reshape(shape), old.context)


# -- Symbol.bind / Symbol.simple_bind -------------------------------------------------------

def simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None, group2ctx=None,
                shared_arg_names=None, shared_exec=None, shared_buffer=None, **kwargs):
    """Bind with arrays the executor allocates, from the shapes of some arguments (the others
    are inferred). shared_exec with shared_arg_names: those arguments (and their gradients)
    are the very arrays of shared_exec; shared_buffer: arrays by name, reused where the
    shape matches, and filled with this executor's new arrays otherwise."""
    ctx = _as_context(ctx)
    _check_stypes(stype_dict)
    shapes = {}
    inputs = set(self.list_inputs())
    for name, shape in kwargs.items():
        if not isinstance(shape, (tuple, list)):
            continue                   # MXNet reads tuples only and passes over other values
        if name not in inputs:
            continue                   # as MXNet, a shape for a name the graph lacks is unused
        shapes[name] = tuple(int(d) for d in shape)
    names = self.list_arguments()
    reqs = _grad_reqs(names, grad_req)
    arg_shapes, _, aux_shapes = self.infer_shape_partial(**shapes)
    full = {n: tuple(s) for n, s in zip(names, arg_shapes or []) if s and all(s)}
    full.update(shapes)
    args, grads = _shared_arrays(names, full, shared_arg_names, shared_exec, shared_buffer)
    ex = Executor(self, ctx, reqs, _dtype_from_types(type_dict, self), shapes, args, grads,
                  group2ctx=group2ctx, types=type_dict)
    if shared_buffer is not None:
        for name, arr in zip(names, ex.arg_arrays):
            shared_buffer.setdefault(name, arr)
    return ex


def _shared_arrays(names, shapes, shared_arg_names, shared_exec, shared_buffer):
    """({name: NDArray} arguments, {name: NDArray} gradients) taken from shared_exec (the
    names in shared_arg_names) and shared_buffer, where the shapes match."""
    args, grads = {}, {}
    if shared_exec is not None:
        if not isinstance(shared_exec, Executor):
            raise ExecutorTypeError("shared_exec must be an Executor, got %s"
                                    % type(shared_exec).__name__)
        wanted = shared_arg_names if shared_arg_names is not None else ()
        for name in wanted:
            arr = shared_exec.arg_dict.get(name)
            if name in shapes and arr is not None and tuple(arr.shape) == shapes[name]:
                args[name] = arr
                if shared_exec.grad_dict.get(name) is not None:
                    grads[name] = shared_exec.grad_dict[name]
    for name, arr in (shared_buffer or {}).items():
        if name in names and name not in args and name in shapes \
                and tuple(arr.shape) == shapes[name]:
            args[name] = arr
    return args, grads


def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None, group2ctx=None,
         shared_exec=None):
    """Bind over the caller's arrays: `args` (list in list_arguments order, or dict) are the
    executor's argument arrays, `args_grad` receive the gradients (an argument without one
    gets none), `aux_states` the auxiliary states (zeros when not given)."""
    ctx = _as_context(ctx)
    names, aux_names = self.list_arguments(), self.list_auxiliary_states()
    arg_map = _named_arrays(names, args, "args", allow_missing=False)
    grad_map = _named_arrays(names, args_grad, "args_grad", allow_missing=True)
    aux_map = _named_arrays(aux_names, aux_states, "aux_states",
                            allow_missing=aux_states is None)
    if shared_exec is not None and not isinstance(shared_exec, Executor):
        raise ExecutorTypeError("shared_exec must be an Executor, got %s"
                                % type(shared_exec).__name__)
    reqs = _grad_reqs(names, grad_req)
    reqs = {n: (r if n in grad_map else "null") for n, r in reqs.items()}
    shapes = {n: tuple(a.shape) for n, a in arg_map.items()}
    return Executor(self, ctx, reqs, _dtype_from_arrays(arg_map.values()), shapes, arg_map,
                    grad_map, aux_map, group2ctx=group2ctx,
                    types={n: a.dtype for n, a in arg_map.items()})
