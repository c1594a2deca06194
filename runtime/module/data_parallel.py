"""Data parallelism over several CPU contexts, as MXNet's Module does it, on one executor.

MXNet splits each batch along its batch axis into one slice per context (sizes from
work_load_list), runs the slices on per-context executors, sums the gradients and applies
one update. All CPU contexts are the same memory and cores, so mxc runs one compiled
executor over the whole batch: the outputs are the slices' outputs concatenated, and the
gradient is the sum of the slices' gradients, for every graph whose training step treats
samples independently. Two things make a slice's result depend on the rest of its slice,
and there the split changes the numbers: BatchNorm's batch statistics in training, and
output layers that divide by the slice's size ('batch' / 'valid' normalization). Binding
such a graph for training on several contexts raises an MXNetError that says so.
`get_outputs(merge_multi_context=False)` and friends return the per-context slices.
"""
import json

import numpy as np

from ..base import MXNetError
from ..io import DataDesc

# Output layers whose gradient is divided by the number of samples (or valid labels) of the
# slice they run on, by their `normalization` attribute.
_NORMALIZED_LOSSES = ("SoftmaxOutput", "Softmax", "MakeLoss", "make_loss")


def split_batch(batch_size, work_load_list):
    """Per-context slices of range(batch_size), sized in proportion to work_load_list (the
    last context takes the rounding remainder), as MXNet splits a batch."""
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


def check_graph(symbol, contexts, for_training):
    """MXNetError when a training step of `symbol` depends on how the batch is split."""
    if len(contexts) < 2 or not for_training:
        return
    found = []
    for node in json.loads(symbol.tojson())["nodes"]:
        attrs = node.get("attrs") or node.get("attr") or node.get("param") or {}
        op = node["op"]
        if op == "BatchNorm" and str(attrs.get("use_global_stats", "False")).lower() \
                not in ("true", "1"):
            found.append("BatchNorm '%s' (batch statistics per slice)" % node["name"])
        elif op in _NORMALIZED_LOSSES and attrs.get("normalization", "null") in ("batch",
                                                                                 "valid"):
            found.append("%s '%s' (normalization='%s' divides by the slice's size)"
                         % (op, node["name"], attrs["normalization"]))
    if found:
        raise MXNetError("data parallelism over %d contexts: mxc runs the whole batch on one "
                         "executor, which gives MXNet's per-context results only when samples "
                         "are independent; %s depend on the split. Bind on one context "
                         "(the results are then those of one device with the whole batch)"
                         % (len(contexts), "; ".join(found)))


def batch_axis(symbol, name):
    """Batch axis of output or argument `name` of `symbol`, from its __layout__ attribute."""
    try:
        layout = symbol[name].attr("__layout__")
    except (KeyError, IndexError, ValueError, AttributeError):
        layout = None
    return max(DataDesc.get_batch_axis(layout), 0)


def split(array, axis, slices):
    """The per-context slices of `array` (an NDArray) along `axis`."""
    from ..ndarray import NDArray
    data = array.asnumpy() if hasattr(array, "asnumpy") else np.asarray(array)
    index = [slice(None)] * data.ndim
    parts = []
    for sl in slices:
        index[axis] = sl
        parts.append(NDArray(np.ascontiguousarray(data[tuple(index)])))
    return parts


def merge(parts, axis=0):
    """One array from per-context parts (a single part is returned as it is)."""
    if not isinstance(parts, (list, tuple)):
        return parts
    if len(parts) == 1:
        return parts[0]
    from ..ndarray import NDArray
    return NDArray(np.concatenate([p.asnumpy() if hasattr(p, "asnumpy") else np.asarray(p)
                                   for p in parts], axis=axis))


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
