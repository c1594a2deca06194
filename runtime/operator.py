"""mx.operator: operators written in Python (MXNet 1.x's CustomOp / CustomOpProp / register).

A custom operator is a `CustomOpProp` subclass registered under a name with `@register(name)`
and used as `mx.sym.Custom(..., op_type=name, **kwargs)` (or `mx.nd.Custom`). Its keyword
arguments reach the property's constructor as strings, as in MXNet. Bound graphs with Custom
nodes run as compiled segments with the Python `forward` / `backward` between them
(runtime/segmented_executor.py).
"""
import logging

import numpy as np

from .base import MXNetError
from .compiler.ops import custom as _custom

__all__ = ["CustomOp", "CustomOpProp", "register", "get_all_registered_operators",
           "PythonOp", "NumpyOp", "NDArrayOp"]

_LOG = logging.getLogger("mxc.operator")
_DTYPE_CODES = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5,
                "int64": 6}


class CustomOp:
    """The computation of a custom operator: override forward and backward."""

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Compute out_data from in_data (lists of NDArrays); req[i] says how to write
        out_data[i] ('null', 'write', 'inplace' or 'add'; see assign)."""

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Compute in_grad (written as req says) from out_grad, in_data and out_data."""

    def assign(self, dst, req, src):
        """dst from src as req says: 'null' nothing, 'write' / 'inplace' copy, 'add' add."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] += src
        else:
            raise MXNetError("CustomOp.assign: req must be 'null', 'write', 'inplace' or 'add', "
                             "got %r" % (req,))


class CustomOpProp:
    """The description of a custom operator: names, shapes, types, dependencies, and the
    CustomOp that computes it."""

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape):
        """(input shapes, output shapes[, aux shapes]); by default every output has the shape
        of the first input."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        return in_type, [in_type[0]] * len(self.list_outputs()), \
            [in_type[0]] * len(self.list_auxiliary_states())

    def infer_storage_type(self, in_stype):
        for i, stype in enumerate(in_stype):
            if stype != "default":
                raise MXNetError("custom operator input %d has storage type %r: only dense "
                                 "('default') arrays are supported" % (i, stype))
        return in_stype, ["default"] * len(self.list_outputs()), \
            ["default"] * len(self.list_auxiliary_states())

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        lists = [ograd_stype, in_stype, out_stype, igrad_stype, aux_stype]
        return tuple(["default"] * len(x) for x in lists)

    def list_outputs(self):
        return ["output"]

    def list_arguments(self):
        return ["data"]

    def list_auxiliary_states(self):
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The ids (of out_grad, in_data, out_data) that backward reads: out_grad only when
        need_top_grad."""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return CustomOp()


def register(reg_name):
    """Class decorator: register a CustomOpProp subclass as op_type `reg_name`."""
    if not isinstance(reg_name, str) or not reg_name:
        raise MXNetError("mx.operator.register: the name must be a non-empty string, got %r"
                         % (reg_name,))

    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise MXNetError("mx.operator.register(%r): expected a subclass of "
                             "mx.operator.CustomOpProp, got %r" % (reg_name, prop_cls))
        if reg_name in _custom.PROPS:
            _LOG.debug("custom operator '%s' registered again", reg_name)
        _custom.register_prop(reg_name, prop_cls)
        return prop_cls
    return do_register


def get_all_registered_operators():
    """The op_type names registered with mx.operator.register."""
    return _custom.registered()


def _legacy(name):
    class Legacy:
        def __init__(self, *args, **kwargs):
            raise MXNetError("mx.operator.%s is deprecated and not supported: write the "
                             "operator as an mx.operator.CustomOp with a CustomOpProp "
                             "registered by @mx.operator.register(name), and use it as "
                             "mx.sym.Custom(..., op_type=name)" % name)
    Legacy.__name__ = Legacy.__qualname__ = name
    return Legacy


PythonOp = _legacy("PythonOp")
NumpyOp = _legacy("NumpyOp")
NDArrayOp = _legacy("NDArrayOp")


# -- running one custom operator -----------------------------------------------------------

def dtype_code(dtype):
    return _DTYPE_CODES.get(np.dtype(dtype).name, 0)


def shapes_of(prop, arg_shapes):
    """(output shapes, aux shapes) from the property's infer_shape."""
    res = prop.infer_shape([list(s) for s in arg_shapes])
    outs = [tuple(int(d) for d in s) for s in res[1]]
    auxs = [tuple(int(d) for d in s) for s in res[2]] if len(res) == 3 else []
    if not auxs and prop.list_auxiliary_states():
        raise MXNetError("custom operator %s has auxiliary states but its infer_shape gives "
                         "no aux shapes" % type(prop).__name__)
    return outs, auxs


def create(prop, ctx, in_shapes, dtype):
    """The CustomOp the property makes for these input shapes (arguments then aux)."""
    op = prop.create_operator(ctx, [list(s) for s in in_shapes],
                              [dtype_code(dtype)] * len(in_shapes))
    if not isinstance(op, CustomOp):
        raise MXNetError("%s.create_operator must return an mx.operator.CustomOp, got %s"
                         % (type(prop).__name__, type(op).__name__))
    return op


def _run_imperative(prop, arrays, train, op_type="?"):
    """mx.nd.Custom: the operator's forward on NumPy arrays (arguments then aux)."""
    from .context import current_context
    from .ndarray import NDArray
    n_arg = len(prop.list_arguments())
    args = [np.ascontiguousarray(a) for a in arrays[:n_arg]]
    outs, _auxs = shapes_of(prop, [a.shape for a in args])
    dtype = args[0].dtype if args else np.float32
    ctx = current_context()
    try:
        op = create(prop, ctx, [a.shape for a in arrays], dtype)
    except MXNetError:
        raise
    except Exception as err:            # noqa: BLE001  (the user's create_operator)
        raise MXNetError("Custom operator '%s': create_operator failed: %s: %s"
                         % (op_type, type(err).__name__, err)) from err
    in_data = [NDArray(a, ctx) for a in args]
    aux = [NDArray(a, ctx) for a in arrays[n_arg:]]
    out_data = [NDArray(np.zeros(s, dtype=dtype), ctx) for s in outs]
    try:
        op.forward(is_train=bool(train), req=["write"] * len(out_data), in_data=in_data,
                   out_data=out_data, aux=aux)
    except MXNetError:
        raise
    except Exception as err:            # noqa: BLE001  (the user's operator)
        raise MXNetError("Custom operator '%s': forward failed: %s: %s"
                         % (op_type, type(err).__name__, err)) from err
    return [o._data for o in out_data]


_custom.RUNNER[0] = _run_imperative
