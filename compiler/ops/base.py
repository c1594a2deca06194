"""The operator registry: each operator is described once, here (via `register`).

An `OpDef` names the MXNet operator, its parameters (MXNet defaults, string parsing), its input,
aux-state and output names, its shape rule, and the template holding its C kernels. Symbol
construction, JSON loading, shape inference and code generation all read from this one place.
"""
import ast

from ..errors import MXNetError

REQUIRED = object()


class Param:
    """One operator parameter: how to parse MXNet's string form, and its default."""

    def __init__(self, parse, default=REQUIRED):
        self.parse, self.default = parse, default


# ---- parsers for MXNet's stringified parameter values --------------------------------------

def p_int(s):
    return int(float(s)) if isinstance(s, str) and ("." in s or "e" in s) else int(s)


def p_float(s):
    return float(s)


def p_bool(s):
    if isinstance(s, bool):
        return s
    t = str(s).strip()
    if t in ("True", "true", "1"):
        return True
    if t in ("False", "false", "0"):
        return False
    raise ValueError("expected a boolean, got %r" % (s,))


def p_str(s):
    return str(s)


def p_shape(s):
    """'(3, 3)', '(3,3)', '[3, 3]', '5', '()' -> tuple of ints; 'None' -> ()."""
    if isinstance(s, (tuple, list)):
        return tuple(int(v) for v in s)
    t = str(s).strip()
    if t in ("None", ""):
        return ()
    v = ast.literal_eval(t)
    if isinstance(v, (int, float)):
        return (int(v),)
    return tuple(int(x) for x in v)


def p_optional(inner):
    def parse(s):
        return None if s is None or str(s).strip() == "None" else inner(s)
    return parse


def p_enum(*choices):
    def parse(s):
        t = str(s)
        if t not in choices:
            raise ValueError("expected one of %s, got %r" % (", ".join(choices), t))
        return t
    return parse


def p_dtype(s):
    names = {"0": "float32", "1": "float64", "2": "float16", "3": "uint8", "4": "int32",
             "5": "int8", "6": "int64"}
    t = str(s)
    t = names.get(t, t)
    if "'" in t:  # "<class 'numpy.float32'>"
        t = t.split("'")[1].split(".")[-1]
    return t


def _as_list(value, params):
    return list(value(params)) if callable(value) else list(value)


class OpDef:
    """Everything the compiler knows about one MXNet operator.

    inputs / aux / outputs are lists of names or callables of the parsed params.
    shape(params, in_shapes) -> (in_shapes, out_shapes): in_shapes covers inputs then aux, with
    None for unknown; the rule fills what it can and raises ShapeError on a contradiction.
    template: file under templates/ defining Jinja macros `forward(n)` and `backward(n)`.
    visible_outputs(params) -> how many outputs are visible (the rest are hidden, e.g. masks).
    """

    def __init__(self, name, params=None, inputs=("data",), aux=(), outputs=("output",),
                 shape=None, template=None, hint=None, aliases=(), variable_inputs=False,
                 loss=False, visible_outputs=None, input_init=None, workspace=None,
                 uses_rng=False, no_grad_inputs=(), differentiable=True):
        self.name = name
        self.params = dict(params or {})
        self._inputs, self._aux, self._outputs = inputs, aux, outputs
        self.shape_rule = shape
        self.template = template
        self.hint = hint or name.lower()
        self.aliases = tuple(aliases)
        self.variable_inputs = variable_inputs
        self.loss = loss
        self._visible = visible_outputs
        self.input_init = dict(input_init or {})
        self.workspace = workspace          # callable(params, in_shapes, out_shapes) -> elements
        self.uses_rng = uses_rng
        self.no_grad_inputs = tuple(no_grad_inputs)   # e.g. labels, indices
        self.differentiable = differentiable

    def parse_params(self, attrs, node_name="?"):
        """Parse MXNet's string attributes into typed values with defaults filled in."""
        out = {}
        for key, prm in self.params.items():
            if key in attrs:
                try:
                    out[key] = prm.parse(attrs[key])
                except (ValueError, SyntaxError, TypeError) as err:
                    raise MXNetError("operator %s (node '%s'): cannot parse parameter %s=%r: %s"
                                     % (self.name, node_name, key, attrs[key], err)) from None
            elif prm.default is REQUIRED:
                raise MXNetError("operator %s (node '%s'): required parameter '%s' is missing"
                                 % (self.name, node_name, key))
            else:
                out[key] = prm.default
        return out

    def input_names(self, params, num_args=None):
        if self.variable_inputs:
            n = num_args if num_args is not None else int(params.get("num_args", 1))
            return ["arg%d" % i for i in range(n)]
        return _as_list(self._inputs, params)

    def aux_names(self, params):
        return _as_list(self._aux, params)

    def output_names(self, params):
        return _as_list(self._outputs, params)

    def num_visible(self, params):
        n = len(self.output_names(params))
        return n if self._visible is None else int(self._visible(params))


class ShapeError(Exception):
    """Raised by shape rules: which input (index) and the shapes that disagree."""

    def __init__(self, index, provided, inferred, why=""):
        super().__init__(why)
        self.index, self.provided, self.inferred, self.why = index, provided, inferred, why


def assign(shapes, i, shape):
    """Fill shapes[i] with `shape`, or check that the known shape agrees (0 = unknown dim)."""
    shape = tuple(int(d) for d in shape)
    cur = shapes[i]
    if cur is None or len(cur) == 0:
        shapes[i] = shape
        return
    if len(cur) != len(shape) or any(a != b and a != 0 and b != 0 for a, b in zip(cur, shape)):
        raise ShapeError(i, cur, shape)
    shapes[i] = tuple(b if a == 0 else a for a, b in zip(cur, shape))


def known(shape):
    return shape is not None and len(shape) > 0 and all(d > 0 for d in shape)


REGISTRY = {}
FUNCTIONS = {}   # python function name -> OpDef (canonical names and aliases)


def register(op):
    """Add an OpDef to the registry; its Python function names become mx.sym.<name>."""
    REGISTRY[op.name] = op
    FUNCTIONS[op.name] = op
    for alias in op.aliases:
        FUNCTIONS[alias] = op
    return op


def get(name):
    try:
        return REGISTRY[name]
    except KeyError:
        raise MXNetError("unknown operator '%s'" % name) from None
