"""Type inference over a graph (MXNet's infer_type): registry dtype rules applied forward
and backward until nothing changes.

A dtype is a name from the registry's closed list (float32, float64, float16, uint8, int32,
int8, int64, bool) or None while unknown. Without a rule of its own (OpDef.dtype_rule) an
operator asks one dtype of every input and output, as MXNet's ElemwiseType, except its index
inputs (those named indices / index / sequence_length / condition, and its no_grad_inputs, a
loss head's label excepted), which may have any type; an operator without inputs gives its
`dtype` parameter (float32 without one). Errors name the node, its operator, the input and
both dtypes. `executor_dtype` picks the one type a compiled executor runs for a type_dict.
"""
from .errors import MXNetError
from .graph import propagate, topo_order
from .ops.base import DTYPE_NAMES, p_dtype


class DtypeError(Exception):
    """Raised by dtype rules: input `index` has `provided`, the rule needs `inferred`."""

    def __init__(self, index, provided, inferred, why=""):
        super().__init__(why)
        self.index, self.provided, self.inferred, self.why = index, provided, inferred, why


def dtype_name(value, what):
    """A dtype name from a NumPy type / dtype / name / MXNet code; MXNetError naming `what`."""
    if value is None:
        return None
    try:
        import numpy as np
        return p_dtype(np.dtype(value).name if not isinstance(value, (str, int)) else value)
    except (ValueError, TypeError):
        raise MXNetError("infer_type: %s has type %r; expected one of %s"
                         % (what, value, ", ".join(DTYPE_NAMES))) from None


def same_dtype(types, slots, outs, out_slots):
    """One dtype over inputs `slots` and outputs `out_slots`, filled where unknown."""
    known = None
    for k in slots:
        t = types[k]
        if t is None:
            continue
        if known is None:
            known = t
        elif t != known:
            raise DtypeError(k, t, known)
    for k in out_slots:
        t = outs[k]
        if t is None:
            continue
        if known is None:
            known = t
        elif t != known:
            first = next((j for j in slots if types[j] is not None), slots[0] if slots else 0)
            raise DtypeError(first, known, t, "the output has type %s" % t)
    if known is not None:
        for k in slots:
            types[k] = known
        for k in out_slots:
            outs[k] = known
    return known


# inputs an operator reads as indices, lengths or conditions, whatever its declared gradients
INDEX_INPUTS = ("indices", "index", "sequence_length", "condition")


def index_inputs(op):
    """The inputs of `op` that may have their own type: indices (by name, or declared without
    gradient), a loss head's label excepted."""
    return (set(op.no_grad_inputs) | set(INDEX_INPUTS)) - ({"label"} if op.loss else set())


def default_rule(op, p, names, types, outs):
    """MXNet's ElemwiseType over every input and output but the index inputs; an operator
    without inputs (a creation or sampling operator) gives its `dtype` parameter, float32
    when it has none (MXNet's InitType / SampleOpType)."""
    if not names:
        dtype = p.get("dtype") or "float32"
        return types, [dtype if t is None else t for t in outs]
    free = index_inputs(op)
    slots = [k for k, name in enumerate(names) if name not in free]
    same_dtype(types, slots, outs, list(range(len(outs))))
    return types, outs


def _apply(n, types, outs):
    names = n.input_names() + n.aux_names()
    try:
        if n.op.dtype_rule is not None:
            return n.op.dtype_rule(n.params, list(types), list(outs))
        return default_rule(n.op, n.params, names, list(types), list(outs))
    except DtypeError as err:
        slot = names[err.index] if 0 <= err.index < len(names) else "#%d" % err.index
        raise MXNetError("Type inconsistent in node '%s' (%s), input '%s': provided %s, "
                         "inferred %s%s" % (n.name, n.op.name, slot, err.provided, err.inferred,
                                            (": " + err.why) if err.why else "")) from None


def _variable_types(order, known):
    types = {}
    for n in order:
        if not n.is_variable:
            continue
        if known.get(n.name) is not None:
            types[(id(n), 0)] = known[n.name]
        elif "__dtype__" in n.attrs:
            raw = n.attrs["__dtype__"]
            try:
                types[(id(n), 0)] = p_dtype(raw)
            except ValueError as err:
                raise MXNetError("variable '%s': attribute __dtype__=%r is invalid: %s"
                                 % (n.name, str(raw)[:40], err)) from None
    return types


def _visit(n, types):
    ins = [types.get((id(c), i)) for c, i in n.inputs]
    outs = [types.get((id(n), i)) for i in range(n.num_outputs())]
    new_ins, new_outs = _apply(n, ins, outs)
    changed = False
    names = n.input_names() + n.aux_names()
    for k, ((c, i), old, new) in enumerate(zip(n.inputs, ins, new_ins)):
        if new is None or new == old:
            continue
        if old is not None:
            raise MXNetError("Type inconsistent in node '%s' (%s), input '%s' (%s): provided "
                             "%s, inferred %s" % (n.name, n.op.name, names[k], c.output_name(i),
                                                  old, new))
        types[(id(c), i)] = new
        changed = True
    for i, (old, new) in enumerate(zip(outs, new_outs or ())):
        if new is None or new == old:
            continue
        if old is not None:
            raise MXNetError("Type inconsistent in node '%s' (%s), output '%s': %s vs %s"
                             % (n.name, n.op.name, n.output_name(i), old, new))
        types[(id(n), i)] = new
        changed = True
    return changed


def infer_graph_types(heads, known):
    """known: {variable name: dtype name}. Returns {(id(node), output index): dtype or None}.
    A variable's __dtype__ attribute gives its type when `known` does not."""
    order = topo_order(heads)
    return propagate(order, _visit, _variable_types(order, known))


def executor_dtype(symbol, type_dict, supported):
    """The one dtype a compiled executor of `symbol` runs for `type_dict` (float32 when it names
    none): the inferred type of every argument, except integer or boolean arguments that the
    graph reads only as indices (their values are held exactly as reals). Outputs of another
    type (Cast, index outputs, shape_array) are computed in that dtype too. Mixed types are
    refused by type inference, naming the node; anything else by this function."""
    import numpy as np
    given = {k: dtype_name(v, "argument '%s'" % k) for k, v in (type_dict or {}).items()}
    if not given:
        return "float32"
    names = symbol.list_arguments()
    args, _, _ = symbol.infer_type_partial(**{k: v for k, v in given.items() if k in names})
    kinds = set()
    for name, t in zip(names, args):
        if t is None:
            continue
        t = np.dtype(t).name
        if not np.issubdtype(np.dtype(t), np.floating) and _only_index(symbol, name):
            continue
        kinds.add(t)
    if not kinds:
        return "float32"
    if len(kinds) > 1 or next(iter(kinds)) not in supported:
        raise MXNetError("type_dict %s: an executor runs one dtype for every tensor but index "
                         "inputs (%s); type inference gives %s"
                         % (given, " or ".join(supported), ", ".join(sorted(kinds))))
    return next(iter(kinds))


def _only_index(symbol, name):
    """Whether variable `name` feeds only index inputs of its consumers."""
    uses = []
    for n in topo_order(symbol._heads):
        if n.is_variable:
            continue
        slots = n.input_names() + n.aux_names()
        for slot, (c, _) in zip(slots, n.inputs):
            if c.is_variable and c.name == name:
                uses.append(slot in index_inputs(n.op))
    return bool(uses) and all(uses)
