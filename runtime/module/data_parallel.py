"""Data parallelism over several contexts, as MXNet's DataParallelExecutorGroup does it.

Module binds one compiled executor per context, each over its slice of the batch (sizes from
work_load_list, MXNet's `_split_input_slice`); executors of equal slice shapes load the same
cached library and differ only in their memory. forward writes each context's slice (or the
context's own DataBatch of a pre-sliced list) into its executor and runs them, at the same
time (one thread per context) when the executors are large enough to gain from it; backward
slices the head gradients likewise. `update` sums the contexts' gradients in context order
(as MXNet's CommCPU reduces them; a dist store then sums them over its workers), applies the
optimizer once on the first executor (the kvstore's copy: 'local' and 'device' give the same
numbers) and copies the parameters back to every context; without a kvstore each context
updates itself with its own gradients and optimizer state, as MXNet does then. Auxiliary
states (BatchNorm's moving statistics) stay per context; `get_params` returns the mean over
the contexts, as MXNet's executor group. Outputs and input gradients are concatenated along
their batch axis (merge_multi_context), and metrics are updated once per context slice.
"""
import copy
import functools
import os

import numpy as np

from .. import ndarray as nd
from ..base import MXNetError
from ..io import DataDesc


def split_batch(batch_size, work_load_list):
    """Per-context slices of range(batch_size), sized in proportion to work_load_list (the
    last context takes the rounding remainder), as MXNet splits a batch."""
    return list(_split_batch(int(batch_size), tuple(work_load_list)))


@functools.lru_cache(maxsize=64)
def _split_batch(batch_size, work_load_list):
    total = float(sum(work_load_list))
    sizes = [int(round(w * batch_size / total)) for w in work_load_list]
    if sum(sizes) < batch_size:
        sizes[-1] += batch_size - sum(sizes)
    slices, begin = [], 0
    for size in sizes:
        end = min(begin + size, batch_size)
        if begin >= end:
            raise ValueError("batch size %d cannot be split over %d contexts (work_load_list "
                             "%s): some slices would be empty"
                             % (batch_size, len(work_load_list), list(work_load_list)))
        slices.append(slice(begin, end))
        begin = end
    return slices


def check_contexts(contexts):
    """MXNetError unless `contexts` can run data-parallel here (one context, or CPUs)."""
    if len(contexts) > 1 and any(c.device_type != "cpu" for c in contexts):
        raise MXNetError("data parallelism over %d contexts (%s) is supported on CPU "
                         "contexts only; bind on one GPU"
                         % (len(contexts), ", ".join(str(c) for c in contexts)))


def axis_of(desc):
    """Batch axis of a DataDesc from its layout (-1: no batch axis), as MXNet reads it."""
    return DataDesc.get_batch_axis(getattr(desc, "layout", None))


def output_axis(symbol, name):
    """Batch axis of output `name` from its __layout__ attribute (0 without one; -1 when the
    layout has no N: the output is the same on every context)."""
    try:
        layout = symbol[name].attr("__layout__")
    except (KeyError, IndexError, ValueError, AttributeError):
        layout = None
    return DataDesc.get_batch_axis(layout)


def batch_axis(symbol, name):
    """Batch axis of output or argument `name` of `symbol` (0 when it has none)."""
    return max(output_axis(symbol, name), 0)


def sliced_descs(descs, sl):
    """`descs` (DataDescs) with their batch dimension cut to slice `sl`."""
    out = []
    for d in descs or []:
        shape = list(d.shape)
        axis = axis_of(d)
        if axis >= 0:
            shape[axis] = sl.stop - sl.start
        out.append(DataDesc(d.name, tuple(shape), getattr(d, "dtype", np.float32),
                            getattr(d, "layout", "NCHW")))
    return out if descs is not None else None


def _numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def take(value, axis, sl):
    """The part `sl` of `value` along `axis` (all of it when axis < 0)."""
    value = _numpy(value)
    if axis < 0:
        return value
    index = [slice(None)] * value.ndim
    index[axis] = sl
    return value[tuple(index)]


def split(array, axis, slices):
    """The per-context slices of `array` (an NDArray) along `axis`, as new NDArrays."""
    return [nd.NDArray(np.ascontiguousarray(take(array, axis, sl))) for sl in slices]


def merge(parts, axis=0):
    """One array from per-context parts: concatenated along `axis`, the first part when
    axis < 0 (the same on every context), a single part as it is."""
    if not isinstance(parts, (list, tuple)):
        return parts
    if len(parts) == 1 or axis < 0:
        return parts[0]
    return nd.NDArray(np.concatenate([_numpy(p) for p in parts], axis=axis),
                      ctx=getattr(parts[0], "context", None))


def mean(arrays):
    """The mean of per-context copies of one array, summed in context order then divided,
    in the arrays' dtype (MXNet's DataParallelExecutorGroup.get_params)."""
    total = np.array(arrays[0], copy=True)
    for a in arrays[1:]:
        total += a
    return total / np.asarray(len(arrays), dtype=total.dtype)


def as_one_context(calls):
    """[call() for call in calls] (one call per context), leaving NumPy's global random
    stream where the first call alone leaves it: the further contexts' executors draw their
    generator seeds from it, and binding or running on several contexts must not change what
    initializers and samplers draw next (it does not in MXNet)."""
    out, after = [], None
    for k, call in enumerate(calls):
        out.append(call())
        if k == 0:
            after = np.random.get_state()
    if after is not None and len(out) > 1:
        np.random.set_state(after)
    return out


# Contexts whose arenas hold at least this many numbers run their forward / backward calls at
# the same time, one thread each (the compiled calls release the GIL and keep no shared
# state); below it a thread hand-off costs more than it saves.
CONCURRENT_SIZE = 1 << 18
_POOL = []      # [(ThreadPoolExecutor, its number of threads, the process it belongs to)]


def _concurrently(calls):
    """Run calls (one per context), the first in this thread, the rest in a thread pool (a
    new one in a forked child, which has none of its parent's threads)."""
    if not _POOL or _POOL[0][1] < len(calls) - 1 or _POOL[0][2] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor
        _POOL[:] = [(ThreadPoolExecutor(max_workers=len(calls) - 1,
                                        thread_name_prefix="mxc-context"), len(calls) - 1,
                     os.getpid())]
    futures = [_POOL[0][0].submit(call) for call in calls[1:]]
    errors = []
    try:
        calls[0]()
    except Exception as err:            # noqa: BLE001  (raised once the others are done)
        errors.append(err)
    for f in futures:
        try:
            f.result()
        except Exception as err:        # noqa: BLE001
            errors.append(err)
    if errors:
        raise errors[0]


def _parallel(execs):
    """Whether the executors' calls may run at the same time: compiled host executors (no
    Python operators inside) large enough to gain from it."""
    from ..executor import Executor, HostMemory
    return len(execs) > 1 and all(type(ex) is Executor and isinstance(ex.memory, HostMemory)
                                  and ex.plan.size >= CONCURRENT_SIZE for ex in execs)


def forward(execs, is_train):
    """Forward on every context; the random stream is rewound (as_one_context) when an
    executor is about to reseed its generator after mx.random.seed."""
    from ..random import seedings
    now = seedings()
    if any(getattr(ex, "_seedings", now) != now for ex in execs):
        as_one_context([lambda ex=ex: ex.forward(is_train) for ex in execs])
    elif _parallel(execs):
        _concurrently([lambda ex=ex: ex.forward(is_train) for ex in execs])
    else:
        for ex in execs:
            ex.forward(is_train)


def backward(execs):
    """Backward on every context."""
    if _parallel(execs):
        _concurrently([ex.backward for ex in execs])
    else:
        for ex in execs:
            ex.backward()


# ---------------------------------------------------------------------------- inputs

def pre_sliced(batches, ndev, data_names):
    """(data, labels, data shapes, label shapes) of a pre-sliced batch: one DataBatch per
    context. data[i] / labels[i] list input i per context; the shapes are the whole batch's
    (the contexts' batch sizes added along axis 0, as MXNet's Module.forward reads them)."""
    if len(batches) != ndev:
        raise MXNetError("Module.forward: a pre-sliced batch is one DataBatch per context; got "
                         "%d batches for %d contexts" % (len(batches), ndev))
    data = []
    for k, b in enumerate(batches):
        if getattr(b, "data", None) is None:
            raise MXNetError("Module.forward: pre-sliced batch %d must be a DataBatch with "
                             "data, got %s" % (k, type(b).__name__))
        arrays = list(b.data) if isinstance(b.data, (list, tuple)) else [b.data]
        if len(arrays) != len(data_names):
            raise MXNetError("pre-sliced batch %d has %d data arrays, the module expects %d "
                             "(%s)" % (k, len(arrays), len(data_names), data_names))
        data.append(arrays)
    data = [list(parts) for parts in zip(*data)]
    has_labels = all(getattr(b, "label", None) for b in batches)
    labels = [list(parts) for parts in zip(*[list(b.label) if isinstance(b.label, (list, tuple))
                                             else [b.label] for b in batches])] \
        if has_labels else []

    def whole(parts, name):
        first = tuple(parts[0].shape)
        for k, p in enumerate(parts):
            if tuple(p.shape) != first:
                raise MXNetError("pre-sliced batch: '%s' has shape %s on context 0 but %s on "
                                 "context %d; all batches of a list need the same shape"
                                 % (name, first, tuple(p.shape), k))
        return (len(parts) * first[0],) + first[1:]
    data_shapes = [whole(parts, n) for parts, n in zip(data, data_names)]
    label_shapes = [whole(parts, "label%d" % i) for i, parts in enumerate(labels)]
    return data, labels, data_shapes, label_shapes


def load_inputs(execs, slices, data_descs, label_descs, data, labels, presliced):
    """Write each context's part of the inputs into its executor: a slice along the input's
    batch axis, or, pre-sliced, the context's own array."""
    inputs = list(zip(data_descs, data))
    inputs += [(d, lab) for d, lab in zip(label_descs or [], labels)]
    for k, (ex, sl) in enumerate(zip(execs, slices)):
        for desc, value in inputs:
            if desc.name not in ex.arg_arrays:
                continue
            part = _numpy(value[k]) if presliced else take(value, axis_of(desc), sl)
            dst = ex.arg_arrays[desc.name]
            if part.shape != dst.shape:
                if part.size != dst.size:
                    raise MXNetError("input '%s': %s values for context %d, whose bound slice "
                                     "has shape %s" % (desc.name, part.shape, k, dst.shape))
                part = part.reshape(dst.shape)
            dst[...] = part


def load_head_grads(symbol, execs, slices, out_grads):
    """Each context's slice of the given output gradients into its executor's head grads."""
    names = symbol.list_outputs()
    for ex, sl in zip(execs, slices):
        for name, hg, g in zip(names, ex.head_grads, out_grads):
            if hg is not None:
                hg[...] = take(g, output_axis(symbol, name), sl)


# ---------------------------------------------------------------------------- update

def copy_params(execs, names):
    """The first context's values of parameters `names` into every other context."""
    first = execs[0]
    for ex in execs[1:]:
        for n in names:
            ex.arg_arrays[n][...] = first.arg_arrays[n]


def update(mod):
    """One optimizer step of a Module bound on several contexts (see the module docstring)."""
    execs = mod._execs
    updated = mod._updated_params()
    names = [n for _, n in updated]
    if mod._kvstore is None:
        return _update_each(mod, execs, updated)
    first = execs[0]
    # with the optimizer on the store the contexts keep their own gradients; else every
    # context receives the sum (MXNet's push then pull into the gradient arrays)
    kept = {n: first.grad_arrays[n].copy() for n in names} if mod._update_on_kvstore else None
    for n in names:
        total = first.grad_arrays[n]
        for ex in execs[1:]:
            total += ex.grad_arrays[n]
    if getattr(mod._kvstore, "num_workers", 1) > 1:
        mod._allreduce_grads()              # and over the workers of a dist store
    if kept is None:
        for n in names:
            for ex in execs[1:]:
                ex.grad_arrays[n][...] = first.grad_arrays[n]
    if mod._opt_kernel is not None:
        first.update(mod._opt_state, mod._opt_kernel[0], mod._hyper_rows(1))
    else:
        for i, n in updated:
            mod._updater(i, nd.NDArray(first.grad_arrays[n]), nd.NDArray(first.arg_arrays[n]))
    if kept is not None:
        for n in names:
            first.grad_arrays[n][...] = kept[n]
        store = getattr(mod._kvstore, "_store", None)
        if isinstance(store, dict):         # the store holds the weights: pull reads them
            for n in names:
                if n in store:
                    store[n][:] = first.arg_arrays[n]
    copy_params(execs, names)


def _context_states(mod):
    """Per context, its optimizer state: the compiled state buffer, or the Python updater.
    With a kvstore every context shares the first one's; without, each further context gets
    its own copy of the first's (made when first needed, so it starts from the same state)."""
    n = len(mod._execs)
    first = mod._opt_state if mod._opt_kernel is not None else mod._updater
    if mod._kvstore is not None:
        return [first] * n
    states = mod._dp_states
    if states is None or states[0] is not first or len(states) != n:
        if mod._opt_kernel is not None:
            states = [first] + [first.copy() for _ in range(n - 1)]
        else:
            from .. import optimizer as opt
            # one optimizer copy per further context: its own states and update counts
            states = [first] + [opt.get_updater(copy.deepcopy(mod._optimizer))
                                for _ in range(n - 1)]
        mod._dp_states = states
    return states


def _update_each(mod, execs, updated):
    """No kvstore: every context updates its parameters with its own gradients and its own
    optimizer state (MXNet's _update_params without a store)."""
    states = _context_states(mod)
    if mod._opt_kernel is not None:
        hyper = mod._hyper_rows(1)          # the same numbers for every context
        for ex, state in zip(execs, states):
            ex.update(state, mod._opt_kernel[0], hyper)
        return
    for ex, updater in zip(execs, states):
        for i, n in updated:
            updater(i, nd.NDArray(ex.grad_arrays[n]), nd.NDArray(ex.arg_arrays[n]))


# ---------------------------------------------------------------------------- optimizer states

def saved_states(mod):
    """{key: state} as MXNet's Module saves the optimizer states on several contexts: keyed
    by parameter name when the optimizer runs on the kvstore, else by MXNet's per-context
    index i * ncontexts + k (parameter i on context k)."""
    n = len(mod._execs)
    if mod._opt_kernel is not None:
        per_context = [mod._compiled_states(buf) for buf in _context_states(mod)]
    else:
        per_context = [dict(u.states) for u in _context_states(mod)]
    if mod._update_on_kvstore:
        return {mod._param_names[i]: st for i, st in per_context[0].items()}
    return {i * n + k: st for k, states in enumerate(per_context) for i, st in states.items()}


def load_states(mod, states, fname):
    """Write optimizer states read from `fname` into every context: keys by parameter name
    (MXNet's kvstore) or by index, i * ncontexts + k without the optimizer on the store (the
    per-context index MXNet's Module gives), else the parameter index."""
    n = len(mod._execs)
    names = mod._param_names
    per_context = [{} for _ in range(n)]
    for key, st in states.items():
        if isinstance(key, str):
            if key not in names:
                raise MXNetError("optimizer state file '%s' has states of '%s', which is not a "
                                 "parameter of this module" % (fname, key))
            for part in per_context:
                part[names.index(key)] = st
        elif mod._update_on_kvstore:
            for part in per_context:
                part[int(key)] = st
        else:
            per_context[int(key) % n][int(key) // n] = st
    targets = _context_states(mod)
    for k, (part, target) in enumerate(zip(per_context, targets)):
        if k and target is targets[0]:
            continue                        # one state shared by every context
        if mod._opt_kernel is not None:
            mod._write_compiled_states(part, target, fname)
        else:
            target.states = part
            target.states_synced = dict.fromkeys(part, False)


# ---------------------------------------------------------------------------- metrics

def update_metric(mod, eval_metric, labels, presliced):
    """Add each context's outputs and its slice of the labels to `eval_metric`."""
    slices = mod._context_slices()
    label_descs = mod._label_shapes or []
    for k, (ex, sl) in enumerate(zip(mod._execs, slices)):
        if presliced:
            part = labels[k]
            part = list(part) if isinstance(part, (list, tuple)) else [part]
        else:
            labels = list(labels) if isinstance(labels, (list, tuple)) else [labels]
            axes = [axis_of(d) for d in label_descs] + [0] * len(labels)
            part = [nd.NDArray(np.ascontiguousarray(take(lab, axis, sl)))
                    for lab, axis in zip(labels, axes)]
        label_dict = dict(zip(mod._label_names, part))
        if len(label_dict) < len(part):
            label_dict.update({"label%d" % i: lab for i, lab in enumerate(part)
                               if i >= len(mod._label_names)})
        pred_dict = {n: nd.NDArray(o if mod._stored is None else o.astype(mod._stored))
                     for n, o in zip(mod._output_names, ex.outputs)}
        eval_metric.update_dict(label_dict, pred_dict)


# ---------------------------------------------------------------------------- group2ctxs

def group_contexts(symbol, contexts, group2ctxs):
    """{variable name: Context} from Module's group2ctxs (a dict of ctx_group -> Context, or
    one such dict per context; a value may also list one Context per context). The graph
    runs on the first context's device; a group's context labels its variables' arrays."""
    if not group2ctxs:
        return {}
    if isinstance(group2ctxs, (list, tuple)):
        if len(group2ctxs) != len(contexts):
            raise ValueError("group2ctxs has %d entries for %d contexts"
                             % (len(group2ctxs), len(contexts)))
        first = group2ctxs[0]
    else:
        first = group2ctxs
    if not isinstance(first, dict):
        raise TypeError("group2ctxs must be a dict of ctx_group -> Context (or a list of them, "
                        "one per context), got %s" % type(first).__name__)
    chosen = {}
    for group, ctx in first.items():
        if isinstance(ctx, (list, tuple)):
            if len(ctx) not in (1, len(contexts)):
                raise ValueError("group2ctxs['%s'] lists %d contexts for %d contexts (one, "
                                 "or one per context)" % (group, len(ctx), len(contexts)))
            ctx = ctx[0]
        chosen[group] = ctx
    from ..symbol_executor import _placement
    return _placement(symbol, contexts[0], chosen)
