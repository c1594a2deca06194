"""Shape inference over a graph: registry shape rules applied until nothing changes.

Errors name the node, its operator, the input and both shapes.
"""
from ast import literal_eval

from .errors import MXNetError
from .ops.base import ShapeError
from .symbol import topo_order


def _norm(shape):
    if shape is None:
        return None
    return tuple(int(d) for d in shape)


def _merge(old, new):
    """Combine two views of one shape (0 = unknown dim); None if they contradict."""
    if old is None or len(old) == 0:
        return new
    if new is None or len(new) == 0:
        return old
    if len(old) != len(new) or any(a and b and a != b for a, b in zip(old, new)):
        return None
    return tuple(a or b for a, b in zip(old, new))


def infer_graph_shapes(heads, known):
    """known: {variable name: shape}. Returns {(id(node), output index): shape or None}."""
    order = topo_order(heads)
    shapes = {}
    names = {n.name for n in order if n.is_variable}
    for n in order:
        if n.is_variable:
            if n.name in known and known[n.name] is not None:
                shapes[(id(n), 0)] = _norm(known[n.name])
            elif "__shape__" in n.attrs:
                hint = _norm(literal_eval(n.attrs["__shape__"]))
                shapes[(id(n), 0)] = hint if hint and all(hint) else None
    for key in known:
        if key not in names:
            pass  # extra names are ignored, as MXNet does for unused shapes
    for _sweep in range(4):
        changed = False
        for n in order:
            if n.is_variable:
                continue
            ins = [shapes.get((id(c), i)) for c, i in n.inputs]
            before = list(ins)
            try:
                new_ins, outs = n.op.shape_rule(n.params, list(ins))
            except ShapeError as err:
                slots = n.input_names() + n.aux_names()
                slot = slots[err.index] if err.index < len(slots) else "#%d" % err.index
                raise MXNetError(
                    "Shape inconsistent in node '%s' (%s), input '%s': provided %s, inferred %s%s"
                    % (n.name, n.op.name, slot, tuple(err.provided), tuple(err.inferred),
                       (": " + err.why) if err.why else "")) from None
            for (c, i), old, new in zip(n.inputs, before, new_ins):
                if new is None or new == old:
                    continue
                merged = _merge(old, _norm(new))
                if merged is None:
                    slots = n.input_names() + n.aux_names()
                    k = n.inputs.index((c, i))
                    raise MXNetError(
                        "Shape inconsistent in node '%s' (%s), input '%s' (%s): provided %s, "
                        "inferred %s" % (n.name, n.op.name, slots[k], c.output_name(i),
                                         old, tuple(new)))
                if merged != old:
                    shapes[(id(c), i)] = merged
                    changed = True
            for i, out in enumerate(outs):
                if out is None:
                    continue
                out = _norm(out)
                old = shapes.get((id(n), i))
                merged = _merge(old, out)
                if merged is None:
                    raise MXNetError("Shape inconsistent in node '%s' (%s), output %d: %s vs %s"
                                     % (n.name, n.op.name, i, old, out))
                if merged != old:
                    shapes[(id(n), i)] = merged
                    changed = True
        if not changed:
            break
    return shapes
