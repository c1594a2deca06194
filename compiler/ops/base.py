"""The operator registry: each operator is described once, here (via `register`).

An `OpDef` names the MXNet operator, its parameters (MXNet defaults, string parsing, ranges),
its input, aux-state and output names, its shape rule, and the template holding its C kernels.
Symbol construction, JSON loading, shape inference and code generation all read from this one
place. Attribute strings are parsed into typed values (int, float, bool, tuple of ints, a name
from a closed list) when a node is made or loaded; templates see only those typed values.
"""
import math
import operator
import re

from ..errors import MXNetError

REQUIRED = object()

INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1   # MXNet's operator integers are 32-bit
MAX_TUPLE = 32                             # longest tuple parameter (dims, axes, widths)
MAX_TEXT = 1024                            # longest attribute value, in characters
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")


class Param:
    """One operator parameter: how to parse MXNet's string form, its default, and its range.

    ge / gt / le / lt bound the value (every entry of a tuple); lengths lists the tuple lengths
    allowed. A default is trusted as written; only values given by the user or a file are
    checked.
    """

    def __init__(self, parse, default=REQUIRED, ge=None, gt=None, le=None, lt=None,
                 lengths=None):
        self.parse, self.default = parse, default
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.lengths = tuple(lengths) if lengths is not None else None

    def read(self, raw):
        """The typed value of a raw attribute, or ValueError saying why it is refused."""
        value = self.parse(raw)
        if value is None:
            return value
        if isinstance(value, tuple):
            if self.lengths is not None and len(value) not in self.lengths:
                raise ValueError("must have %s entries, has %d"
                                 % (" or ".join(str(n) for n in self.lengths), len(value)))
            for v in value:
                self._check_range(v, "every entry must be")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_range(value, "must be")
        return value

    def _check_range(self, v, what):
        if v is None:
            return
        for bound, holds, word in ((self.ge, operator.ge, ">="), (self.gt, operator.gt, ">"),
                                   (self.le, operator.le, "<="), (self.lt, operator.lt, "<")):
            if bound is not None and not holds(v, bound):
                raise ValueError("%s %s %s" % (what, word, _num(bound)))


def _num(v):
    return repr(v) if isinstance(v, float) else str(v)


class ParamError(ValueError):
    """Raised by an operator's cross-parameter check: which parameter, and why."""

    def __init__(self, key, why):
        super().__init__(why)
        self.key, self.why = key, why


# ---- parsers for MXNet's stringified parameter values --------------------------------------
#
# Each takes a string (or, from Python, a number / tuple) and returns a typed value, or raises
# ValueError. None of them evaluates the text: numbers, tuples and names only.

_INT = re.compile(r"[+-]?[0-9]+L?\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z"
                    r"|[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


def _text(s):
    t = str(s).strip()
    if len(t) > MAX_TEXT:
        raise ValueError("the value is %d characters long (at most %d)" % (len(t), MAX_TEXT))
    return t


def _to_int(t):
    """An int from decimal digits, as MXNet reads it ('10.0' and '1e3' are not integers)."""
    if not _INT.match(t):
        raise ValueError("expected an integer, got %s" % _show(t))
    v = int(t.rstrip("L"))
    if not INT_MIN <= v <= INT_MAX:
        raise ValueError("integer out of range [%d, %d]" % (INT_MIN, INT_MAX))
    return v


def p_int(s):
    """A 32-bit integer."""
    if isinstance(s, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(s, int):
        return _to_int(str(s))
    return _to_int(_text(s))


def _to_float(s):
    if isinstance(s, bool):
        raise ValueError("expected a number, got a boolean")
    t = repr(float(s)) if isinstance(s, (int, float)) else _text(s)
    if not _FLOAT.match(t):
        raise ValueError("expected a number, got %s" % _show(t))
    try:
        return float(t)
    except OverflowError:
        raise ValueError("number out of range") from None


def p_float(s):
    """A finite real number."""
    v = _to_float(s)
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


def p_float_or_inf(s):
    """A real number that may be +-inf (a bound that does not bind), never NaN."""
    v = _to_float(s)
    if v != v:
        raise ValueError("must be a number, not NaN")
    return v


def p_bool(s):
    if isinstance(s, bool):
        return s
    t = _text(s).lower()
    if t in ("true", "1"):
        return True
    if t in ("false", "0"):
        return False
    raise ValueError("expected a boolean, got %s" % _show(s))


_TUPLE_ITEM = re.compile(r"\s*([+-]?[0-9]+L?)\s*\Z")


def p_shape(s):
    """'(3, 3)', '(3,3)', '[3, 3]', '5', '()' -> tuple of ints; 'None' or '' -> ().

    Only integer literals separated by commas, in parentheses or brackets or bare; at most
    MAX_TUPLE entries, each a 32-bit integer.
    """
    if isinstance(s, (tuple, list)):
        if len(s) > MAX_TUPLE:
            raise ValueError("at most %d entries, got %d" % (MAX_TUPLE, len(s)))
        return tuple(p_int(v) for v in s)
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return (p_int(s),)
    t = _text(s)
    if t in ("None", ""):
        return ()
    if (t[:1], t[-1:]) in (("(", ")"), ("[", "]")):
        t = t[1:-1]
    items = t.split(",")
    if items and not items[-1].strip():
        items = items[:-1]                     # '(3,)': the trailing comma of a 1-tuple
    if len(items) > MAX_TUPLE:
        raise ValueError("at most %d entries, got %d" % (MAX_TUPLE, len(items)))
    out = []
    for item in items:
        m = _TUPLE_ITEM.match(item)
        if not m:
            raise ValueError("expected a tuple of integers such as (3, 3), got %s" % _show(s))
        out.append(_to_int(m.group(1)))
    return tuple(out)


def p_optional(inner):
    def parse(s):
        return None if s is None or str(s).strip() == "None" else inner(s)
    return parse


def p_enum(*choices, unsupported=()):
    """One of `choices`; the names in `unsupported` are MXNet's but not implemented here."""
    def parse(s):
        t = _text(s)
        if t in choices:
            return t
        if t in unsupported:
            raise ValueError("%s is not supported (supported: %s)" % (_show(t), ", ".join(choices)))
        raise ValueError("expected one of %s, got %s" % (", ".join(choices), _show(s)))
    return parse


DTYPE_NAMES = ("float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool")
_DTYPE_CODES = {"0": "float32", "1": "float64", "2": "float16", "3": "uint8", "4": "int32",
                "5": "int8", "6": "int64", "7": "bool"}


def p_dtype(s):
    """A dtype name from a closed list; MXNet's numeric codes and "<class 'numpy.x'>" too."""
    t = _text(s)
    t = _DTYPE_CODES.get(t, t)
    m = re.match(r"<class 'numpy\.([a-z0-9_]+)'>\Z", t)
    if m:
        t = m.group(1)
    if t not in DTYPE_NAMES:
        raise ValueError("expected a dtype (one of %s), got %s" % (", ".join(DTYPE_NAMES),
                                                                   _show(s)))
    return t


def _show(value, limit=40):
    """A short, printable form of a raw value for messages."""
    r = repr(value if isinstance(value, str) else str(value))
    return r if len(r) <= limit else r[:limit - 4] + "...'"


def _ignored_key(key):
    """Keys that are not operator parameters but that MXNet accepts on an operator node."""
    if len(key) > 4 and key.startswith("__") and key.endswith("__"):
        return True                      # user and system attributes, e.g. __ctx_group__
    if key in HIDDEN_KEYS:
        return True                      # MXNet stores these as __key__
    # pre-1.0 files: `weight_lr_mult` on the operator, moved to that input when loaded
    return re.match(r"[A-Za-z0-9_]+_(lr|wd)_mult\Z", key) is not None


def _as_list(value, params):
    return list(value(params)) if callable(value) else list(value)


class OpDef:
    """Everything the compiler knows about one MXNet operator.

    inputs / aux / outputs are lists of names or callables of the parsed params.
    shape(params, in_shapes) -> (in_shapes, out_shapes): in_shapes covers inputs then aux, with
    None for unknown; the rule fills what it can and raises ShapeError on a contradiction.
    A rule written shape(params, in_shapes, out_shapes=None) also sees what is known of its
    outputs and may fill inputs from them (shapes may hold 0 = unknown dimension).
    template: file under templates/ defining Jinja macros `forward(n)` and `backward(n)`.
    visible_outputs(params) -> how many outputs are visible (the rest are hidden, e.g. masks).
    check(params): rules between parameters (a stride as long as the kernel, ...); raises
    ParamError(key, why). Ranges of single parameters live in their `Param`.
    geometry(params, shapes) -> dict of the numbers a kernel template needs (loop extents,
    strides, ...); templates read it as `n.node.op.geometry(n)`, so the arithmetic lives in
    Python, once.
    reference(params, arrays, train=False) -> list of NumPy arrays, one per output (hidden ones
    included): the operator computed in NumPy, from `arrays` (inputs then aux states, NumPy
    arrays). It runs mx.nd.<op> eagerly and is the independent reference of the op's tests;
    with train=True it computes training mode and, like MXNet, updates aux states in place.
    dtype_rule(params, in_types, out_types) -> (in_types, out_types): dtype names or None for
    unknown (inputs then aux); without one, every input and output shares one dtype, indices
    (no_grad_inputs other than a loss head's label) excepted (see compiler/typeinfer.py).
    """

    def __init__(self, name, params=None, inputs=("data",), aux=(), outputs=("output",),
                 shape=None, template=None, hint=None, aliases=(), variable_inputs=False,
                 loss=False, visible_outputs=None, input_init=None, workspace=None,
                 uses_rng=False, no_grad_inputs=(), differentiable=True, check=None,
                 geometry=None, reference=None, dtype_rule=None, has_gradient=True):
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
        # False where MXNet registers no gradient at all (not even zeros): a graph bound for
        # training whose gradient would have to pass through the operator is refused
        self.has_gradient = has_gradient
        self.check = check
        self._geometry = geometry
        self.reference = reference
        self.dtype_rule = dtype_rule

    def geometry(self, n):
        """The template numbers of node view `n` (see the class docstring)."""
        if self._geometry is None:
            raise MXNetError("operator %s has no geometry" % self.name)
        return self._geometry(n.p, n.shape)

    def parse_params(self, attrs, node_name="?"):
        """Parse MXNet's string attributes into typed, range-checked values, defaults filled in.

        Every failure is one MXNetError naming the operator, the node and the parameter.
        """
        out = {}
        for key, prm in self.params.items():
            if key in attrs:
                try:
                    out[key] = prm.read(attrs[key])
                except (ValueError, TypeError, OverflowError) as err:
                    raise self._param_error(node_name, key, attrs[key], err) from None
            elif prm.default is REQUIRED:
                raise MXNetError("operator %s (node '%s'): required parameter '%s' is missing"
                                 % (self.name, node_name, key))
            else:
                out[key] = prm.default
        self._refuse_unknown(attrs, node_name)
        if self.check is not None:
            try:
                self.check(out)
            except ParamError as err:
                raise self._param_error(node_name, err.key, attrs.get(err.key, out.get(err.key)),
                                        err.why) from None
        return out

    def _param_error(self, node_name, key, raw, why):
        return MXNetError("operator %s (node '%s'): parameter %s=%s is invalid: %s"
                          % (self.name, node_name, key, _show(raw), why))

    def _refuse_unknown(self, attrs, node_name):
        """MXNet refuses a key that is neither a parameter nor a `__attribute__`."""
        for key in attrs:
            if key not in self.params and not _ignored_key(key):
                known_keys = ", ".join(sorted(self.params)) or "none"
                raise MXNetError("operator %s (node '%s'): unknown parameter %s (parameters: %s)"
                                 % (self.name, node_name, _show(key), known_keys))

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


# ---- partial shapes (MXNet's legacy convention: 0 is an unknown dimension, () or None an
# unknown shape). A rule may take the known output shapes as a third argument, `outs`
# (defaulting to None), and fill inputs from them: shape inference then runs it forward
# and backward until nothing changes. -----------------------------------------------------

def ndim_known(shape):
    """The number of dimensions is known (some dimensions may still be 0 = unknown)."""
    return shape is not None and len(shape) > 0


def dim_prod(dims):
    """Product of dimensions, 0 (unknown) if any is unknown."""
    out = 1
    for d in dims:
        out *= int(d)
    return out


def merge_shape(a, b):
    """One shape from two partial views of it ((): still unknown), or None when they
    contradict."""
    if not ndim_known(a):
        return tuple(b) if ndim_known(b) else ()
    if not ndim_known(b):
        return tuple(a)
    if len(a) != len(b) or any(x and y and x != y for x, y in zip(a, b)):
        return None
    return tuple(x or y for x, y in zip(a, b))


def unify(ins, outs, in_slots, out_slots=()):
    """Make inputs `in_slots` and outputs `out_slots` one shape (element-wise operators,
    shape-preserving layers): every known dimension of one fills the others. A contradiction
    is a ShapeError naming the first input that disagrees."""
    merged = None
    first = None
    for k in in_slots:
        m = merge_shape(merged, ins[k])
        if m is None:
            raise ShapeError(k, tuple(ins[k]), tuple(merged))
        merged = m
        if first is None and ndim_known(ins[k]):
            first = k
    for k in out_slots:
        if outs is None or k >= len(outs):
            continue
        m = merge_shape(merged, outs[k])
        if m is None:
            slot = first if first is not None else (in_slots[0] if in_slots else 0)
            raise ShapeError(slot, tuple(merged), tuple(outs[k]))
        merged = m
    if not ndim_known(merged):
        return None
    for k in in_slots:
        ins[k] = merged
    if outs is not None:
        for k in out_slots:
            if k < len(outs):
                outs[k] = merged
    return merged


def out_list(outs, n):
    """The output shapes a rule was handed (None when called the old way), as a list of n."""
    outs = list(outs) if outs is not None else []
    return outs + [None] * (n - len(outs))


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
