"""The `Custom` operator: an operator written in Python (MXNet's mx.operator.CustomOp).

The compiler knows a custom operator only through callbacks the runtime registers here
(`mx.operator.register` fills `PROPS`): a factory that makes the operator's property object
from the node's keyword arguments (strings, as MXNet hands them over). The property names the
inputs (`list_arguments`), auxiliary states and outputs, and gives the shape rule
(`infer_shape`). A Custom node is never compiled: executors split the graph at Custom nodes
and run the Python operator between compiled segments. The node's attributes are `op_type`
plus the keyword arguments as strings, as in MXNet's JSON.
"""
from ..errors import MXNetError
from .base import OpDef, REQUIRED, Param, ShapeError, _ignored_key, _show, p_dtype, register

PROPS = {}          # op_type -> factory(**kwargs as strings) -> property object
_CACHE = {}         # (op_type, kwargs) -> property object
RUNNER = [None]     # runner(prop, arrays, train, op_type) -> NumPy outputs (mx.nd.Custom)


def register_prop(op_type, factory):
    """Make `op_type` known: factory(**kwargs) returns its property object."""
    PROPS[op_type] = factory
    for key in [k for k in _CACHE if k[0] == op_type]:
        del _CACHE[key]


def registered():
    return sorted(PROPS)


def prop_of(params, node_name="?"):
    """The property object of a parsed Custom node (one per op_type and keyword arguments)."""
    key = (params["op_type"], params["kwargs"])
    prop = _CACHE.get(key)
    if prop is None:
        factory = PROPS.get(key[0])
        if factory is None:
            raise MXNetError(_unregistered(key[0], node_name))
        try:
            prop = factory(**dict(key[1]))
        except MXNetError:
            raise
        except Exception as err:        # noqa: BLE001  (the user's constructor)
            raise MXNetError("Custom operator '%s' (node '%s'): creating its property with "
                             "%s failed: %s: %s" % (key[0], node_name, dict(key[1]),
                                                    type(err).__name__, err)) from None
        _CACHE[key] = prop
    return prop


def _unregistered(op_type, node_name):
    known = ", ".join(registered()) or "none"
    return ("Custom operator '%s' (node '%s') is not registered: define it with "
            "@mx.operator.register(%r) before creating or loading the symbol (registered: %s)"
            % (op_type, node_name, op_type, known))


def _names(what):
    def names(params):
        prop = prop_of(params)
        out = list(getattr(prop, what)())
        for n in out:
            if not isinstance(n, str) or not n:
                raise MXNetError("Custom operator '%s': %s() must return non-empty strings, "
                                 "got %r" % (params["op_type"], what, out))
        return out
    return names


def _p_op_type(s):
    """The name of a registered custom operator (the closed list `register` builds)."""
    t = str(s)
    if t not in PROPS:
        shown = t if len(t) <= 40 else t[:36] + "..."
        raise ValueError("%r is not a registered custom operator (registered: %s)"
                         % (shown, ", ".join(registered()) or "none"))
    return t


class CustomOpDef(OpDef):
    """`Custom`: op_type plus any keyword arguments, kept as the strings they arrive as."""

    def parse_params(self, attrs, node_name="?"):
        if "op_type" not in attrs:
            raise MXNetError("operator Custom (node '%s'): required parameter 'op_type' is "
                             "missing" % node_name)
        op_type = str(attrs["op_type"])
        if op_type not in PROPS:
            raise MXNetError(_unregistered(_show(op_type, 60)[1:-1], node_name))
        kwargs = tuple(sorted((k, str(v)) for k, v in attrs.items()
                              if k != "op_type" and not _ignored_key(k)))
        params = {"op_type": op_type, "kwargs": kwargs}
        prop_of(params, node_name)
        return params


def _as_shape(s, what):
    try:
        return tuple(int(d) for d in s)
    except (TypeError, ValueError):
        raise ShapeError(0, (), (), "%s: %r is not a shape" % (what, s)) from None


def _shape(params, in_shapes):
    """The property's infer_shape on the argument shapes (unknown ones as []); its answer
    fills the unknown inputs, outputs and auxiliary states. A rule that cannot answer for
    partly unknown inputs is asked again once they are known."""
    prop = prop_of(params)
    n_arg = len(prop.list_arguments())
    n_out, n_aux = len(prop.list_outputs()), len(prop.list_auxiliary_states())
    args = [list(s) if s else [] for s in in_shapes[:n_arg]]
    complete = all(args)
    try:
        res = prop.infer_shape(args)
    except Exception as err:            # noqa: BLE001  (the user's shape rule)
        if not complete:
            return list(in_shapes), [None] * n_out
        raise ShapeError(0, (), (), "%s.infer_shape failed: %s: %s"
                         % (type(prop).__name__, type(err).__name__, err)) from None
    if not isinstance(res, (list, tuple)) or len(res) not in (2, 3):
        raise ShapeError(0, (), (), "infer_shape must return (in_shapes, out_shapes[, "
                                    "aux_shapes]), got %r" % (res,))
    ins, outs = list(res[0]), list(res[1])
    auxs = list(res[2]) if len(res) == 3 else []
    if len(ins) != n_arg or len(outs) != n_out or len(auxs) not in (0, n_aux):
        raise ShapeError(0, (), (), "infer_shape returned %d input, %d output and %d aux "
                                    "shapes for %d, %d and %d" % (len(ins), len(outs),
                                                                  len(auxs), n_arg, n_out,
                                                                  n_aux))
    new_in = list(in_shapes)
    for k, s in enumerate(ins):
        s = _as_shape(s, "input shape %d" % k)
        new_in[k] = s if s and all(s) else in_shapes[k]
    for k, s in enumerate(auxs):
        s = _as_shape(s, "aux shape %d" % k)
        new_in[n_arg + k] = s if s and all(s) else in_shapes[n_arg + k]
    out_shapes = []
    for k, s in enumerate(outs):
        s = _as_shape(s, "output shape %d" % k)
        out_shapes.append(s if s and all(s) else None)
    return new_in, out_shapes


def _dtype(params, in_types, out_types):
    """The property's infer_type on the argument types (NumPy types, None where unknown), as
    MXNet calls it; its answer fills the unknown inputs, outputs and auxiliary states. A rule
    that cannot answer for partly unknown inputs is asked again once they are known."""
    import numpy as np
    prop = prop_of(params)
    n_arg = len(prop.list_arguments())
    n_out, n_aux = len(prop.list_outputs()), len(prop.list_auxiliary_states())
    args = [None if t is None else np.dtype(t).type for t in in_types[:n_arg]]
    try:
        res = prop.infer_type(args)
        if not isinstance(res, (list, tuple)) or len(res) not in (2, 3):
            raise ValueError("infer_type must return (in_types, out_types[, aux_types]), "
                             "got %r" % (res,))
        ins, outs = list(res[0]), list(res[1])
        auxs = list(res[2]) if len(res) == 3 else [None] * n_aux
        if len(ins) != n_arg or len(outs) != n_out or len(auxs) != n_aux:
            raise ValueError("infer_type returned %d input, %d output and %d aux types for "
                             "%d, %d and %d" % (len(ins), len(outs), len(auxs), n_arg, n_out,
                                                n_aux))
        names = [None if t is None else p_dtype(np.dtype(t).name) for t in ins + auxs + outs]
    except Exception as err:            # noqa: BLE001  (the user's type rule)
        if any(t is None for t in args):
            return list(in_types), list(out_types)
        raise MXNetError("Custom operator '%s': %s.infer_type failed: %s: %s"
                         % (params["op_type"], type(prop).__name__, type(err).__name__,
                            err)) from None
    new_in = [t if t is not None else old for t, old in zip(names[:n_arg + n_aux], in_types)]
    new_out = [t if t is not None else old for t, old in zip(names[n_arg + n_aux:], out_types)]
    return new_in, new_out


def _reference(params, arrays, train=False):
    """mx.nd.Custom: the operator's forward, run by the runtime's runner."""
    if RUNNER[0] is None:
        raise MXNetError("Custom operator '%s': import mxc.operator to run custom operators"
                         % params["op_type"])
    return RUNNER[0](prop_of(params), arrays, train, params["op_type"])


CUSTOM = register(CustomOpDef(
    "Custom", params={"op_type": Param(_p_op_type, REQUIRED)}, inputs=_names("list_arguments"),
    aux=_names("list_auxiliary_states"), outputs=_names("list_outputs"), shape=_shape,
    hint="custom", reference=_reference, dtype_rule=_dtype))
