"""Shape inference over a graph: registry shape rules applied forward and backward until
nothing changes, as MXNet's InferShape pass.

Shapes may be partial: 0 is an unknown dimension, None (or ()) an unknown shape. A rule of
the old form rule(p, ins) fills its outputs (and may fill inputs) from its inputs; a rule
written rule(p, ins, outs=None) is also handed what is known of its outputs, so it can fill
its inputs from them (the batch of a FullyConnected's data from its output, element-wise
operands from each other, a constant's unknown dimensions from its consumers). Errors name
the node, its operator, the input and both shapes.
"""
import inspect
from math import prod

from .errors import MXNetError
from .graph import propagate, topo_order
from .semantics import is_np_shape
from .ops.base import INT_MAX, Param, ShapeError, merge_shape, p_shape

_SHAPE_HINT = Param(p_shape, ge=0)          # a variable's __shape__: 0 = unknown dimension
_NP_SHAPE_HINT = Param(p_shape, ge=-1)      # ... and -1 = unknown under NumPy shape semantics


def _norm(shape):
    if shape is None:
        return None
    return tuple(int(d) for d in shape)


def _shape_hint(var):
    raw = var.attrs["__shape__"]
    try:
        hint = (_NP_SHAPE_HINT if is_np_shape() else _SHAPE_HINT).read(raw)
    except ValueError as err:
        shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:36] + "...'"
        raise MXNetError("variable '%s': attribute __shape__=%s is invalid: %s"
                         % (var.name, shown, err)) from None
    return tuple(0 if d == -1 else d for d in hint) if hint else hint   # -1: unknown (np_shape)


def _takes_outputs(rule, _cache={}):
    """Whether a shape rule takes the known output shapes as a third argument (new form:
    rule(p, ins, outs=None)); the old form rule(p, ins) sees inputs only."""
    hit = _cache.get(rule)
    if hit is None:
        try:
            params = list(inspect.signature(rule).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [q for q in params if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
        hit = _cache[rule] = len(positional) >= 3 or any(q.kind == q.VAR_POSITIONAL
                                                         for q in params)
    return hit


def _apply_rule(n, ins, outs):
    """The node's shape rule; every failure names the node, its operator and the input."""
    try:
        if _takes_outputs(n.op.shape_rule):
            return n.op.shape_rule(n.params, list(ins), list(outs))
        return n.op.shape_rule(n.params, list(ins))
    except ShapeError as err:
        slots = n.input_names() + n.aux_names()
        slot = slots[err.index] if err.index < len(slots) else "#%d" % err.index
        if 0 <= err.index < len(n.inputs):      # the tensor feeding it, when not a variable
            c, i = n.inputs[err.index]
            if not c.is_variable:
                slot = "%s' ('%s'" % (slot, c.output_name(i))
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


def _variable_shapes(order, known):
    """Shapes of the variables: given ones, else their __shape__ hint (0 = unknown dim)."""
    shapes = {}
    for n in order:
        if not n.is_variable:
            continue
        if n.name in known and known[n.name] is not None and len(known[n.name]) > 0:
            shapes[(id(n), 0)] = _norm(known[n.name])
        elif "__shape__" in n.attrs:
            hint = _shape_hint(n)
            shapes[(id(n), 0)] = hint if hint else None
    return shapes


def _visit(n, shapes):
    """Run one node's rule over what is known of its inputs and outputs; merge what it
    infers. Returns whether anything new was learnt."""
    ins = [shapes.get((id(c), i)) for c, i in n.inputs]
    outs = [shapes.get((id(n), i)) for i in range(n.num_outputs())]
    new_ins, new_outs = _apply_rule(n, ins, outs)
    changed = False
    for k, ((c, i), old, new) in enumerate(zip(n.inputs, ins, new_ins)):
        if new is None or len(new) == 0 or new == old:
            continue
        merged = merge_shape(old, _norm(new))
        if merged is None:
            slots = n.input_names() + n.aux_names()
            raise MXNetError(
                "Shape inconsistent in node '%s' (%s), input '%s' (%s): provided %s, "
                "inferred %s" % (n.name, n.op.name, slots[k], c.output_name(i),
                                 old, tuple(new)))
        if merged != old:
            shapes[(id(c), i)] = merged
            changed = True
    for i, out in enumerate(new_outs or ()):
        if out is None or len(out) == 0 or i >= len(outs):
            continue
        out = _norm(out)
        old = outs[i]
        merged = merge_shape(old, out)
        if merged is None:
            raise MXNetError("Shape inconsistent in node '%s' (%s), output '%s': %s vs %s"
                             % (n.name, n.op.name, n.output_name(i), old, out))
        if merged != old:
            shapes[(id(n), i)] = merged
            changed = True
    return changed


def infer_graph_shapes(heads, known, partial=False):
    """known: {variable name: shape (0 = unknown dim)}. Returns {(id(node), output index):
    shape}. Rules run over the graph forward, then backward (a rule taking `outs` fills inputs
    from outputs), until nothing changes. With partial=False a shape that is not complete
    comes back as None; with partial=True as far as it is known (0 = unknown dim)."""
    order = topo_order(heads)
    shapes = propagate(order, _visit, _variable_shapes(order, known))
    _refuse_huge(order, shapes)
    if not partial:
        shapes = {k: (s if s and all(s) else None) for k, s in shapes.items()}
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
