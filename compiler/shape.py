"""Shape inference over a graph: registry shape rules applied until nothing changes.

Errors name the node, its operator, the input and both shapes.
"""
from math import prod

from .errors import MXNetError
from .graph import topo_order
from .ops.base import INT_MAX, Param, ShapeError, p_shape

_SHAPE_HINT = Param(p_shape, ge=0)          # a variable's __shape__: 0 = unknown dimension


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


def _shape_hint(var):
    raw = var.attrs["__shape__"]
    try:
        return _SHAPE_HINT.read(raw)
    except ValueError as err:
        shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:36] + "...'"
        raise MXNetError("variable '%s': attribute __shape__=%s is invalid: %s"
                         % (var.name, shown, err)) from None


def _apply_rule(n, ins):
    """The node's shape rule; every failure names the node, its operator and the input."""
    try:
        return n.op.shape_rule(n.params, list(ins))
    except ShapeError as err:
        slots = n.input_names() + n.aux_names()
        slot = slots[err.index] if err.index < len(slots) else "#%d" % err.index
        if not err.inferred and err.why:        # a constraint, not two shapes that differ
            given = " %s" % (tuple(err.provided),) if err.provided else ""
            raise MXNetError("Shape error in node '%s' (%s), input '%s'%s: %s"
                             % (n.name, n.op.name, slot, given, err.why)) from None
        raise MXNetError(
            "Shape inconsistent in node '%s' (%s), input '%s': provided %s, inferred %s%s"
            % (n.name, n.op.name, slot, tuple(err.provided), tuple(err.inferred),
               (": " + err.why) if err.why else "")) from None
    except (ArithmeticError, ValueError, IndexError) as err:
        shapes = ", ".join(str(tuple(s)) if s else "?" for s in ins)
        raise MXNetError("Shape error in node '%s' (%s) with input shapes %s: %s"
                         % (n.name, n.op.name, shapes, err)) from None


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
                hint = _shape_hint(n)
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
            new_ins, outs = _apply_rule(n, ins)
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
    _refuse_huge(order, shapes)
    return shapes


def _refuse_huge(order, shapes):
    """MXNet's default build indexes tensors with 32-bit integers: larger ones are refused."""
    for n in order:
        for i in range(n.num_outputs()):
            shape = shapes.get((id(n), i))
            if shape and prod(shape) > INT_MAX:
                raise MXNetError("tensor '%s' (node '%s') has shape %s: %d elements, more than "
                                 "the %d a tensor may hold" % (n.output_name(i), n.name, shape,
                                                               prod(shape), INT_MAX))
