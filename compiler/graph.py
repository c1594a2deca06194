"""The graph: `Node`s joined by (node, output index) edges, their names and their order.

A variable is a node whose op is None; an operator node's `op` is its registry entry. Symbols
(symbol.py), shape inference (shape.py) and the plan (plan.py) all walk graphs through here.
"""
import re
import threading
import warnings

from .errors import MXNetError


# ---- automatic node names ---------------------------------------------------------------------

class _ManagerClass(type):
    """Gives NameManager MXNet's class-level `NameManager.current` (read, deprecated in MXNet
    in favour of `with NameManager():`, and assigned)."""

    @property
    def current(cls):
        warnings.warn("NameManager.current has been deprecated. It is advised to use the "
                      "`with` statement with NameManager.", DeprecationWarning, stacklevel=2)
        return current_name_manager()

    @current.setter
    def current(cls, manager):
        NameManager._current.value = manager


class NameManager(metaclass=_ManagerClass):
    """Default node names: `hint + counter`, one counter per hint (MXNet's mx.name). One
    current manager per thread."""
    _current = threading.local()

    def __init__(self):
        self._counter = {}
        self._old = None

    def get(self, name, hint):
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return "%s%d" % (hint, n)

    def __enter__(self):
        self._old = current_name_manager()
        NameManager._current.value = self
        return self

    def __exit__(self, *exc):
        NameManager._current.value = self._old


def current_name_manager():
    """The thread's current NameManager (a fresh one on first use)."""
    if getattr(NameManager._current, "value", None) is None:
        NameManager._current.value = NameManager()
    return NameManager._current.value


class Prefix(NameManager):
    """Prepends a prefix to every name, given or generated."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


# ---- names and attribute text -----------------------------------------------------------------
#
# Names (of nodes and attribute keys) may hold any printable text, quotes, backslashes and
# non-ASCII included, but no NUL, control character or lone surrogate; attribute values may
# hold anything but NUL and lone surrogates. Such text always saves as JSON that loads back
# identically (jsonfmt escapes what needs escaping) and stays a valid C string.

_BAD_NAME_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_VALUE_CHAR = re.compile("[\x00\ud800-\udfff]")


def _refuse_char(text, what, pattern, rule):
    if not isinstance(text, str):
        raise MXNetError("%s must be a string, got %s" % (what, type(text).__name__))
    bad = pattern.search(text)
    if bad is not None:
        shown = ascii(text if len(text) <= 80 else text[:80] + "...")
        raise MXNetError("%s %s holds U+%04X at position %d: %s"
                         % (what, shown, ord(bad.group()), bad.start(), rule))
    return text


def check_name(name, what="name"):
    """`name` unchanged, or MXNetError when it holds NUL or a control character."""
    return _refuse_char(name, what, _BAD_NAME_CHAR,
                        "names may not hold NUL, control characters or lone surrogates")


def check_attrs(attrs, node_name):
    """A copy of `attrs` after checking keys as names and values as text."""
    out = {}
    for key, value in attrs.items():
        check_name(key, "attribute key of node %s:" % ascii(node_name))
        out[key] = _refuse_char(value, "attribute '%s' of node %s:" % (key, ascii(node_name)),
                                _BAD_VALUE_CHAR,
                                "attribute values may not hold NUL or lone surrogates")
    return out


# ---- graph nodes ------------------------------------------------------------------------------

class Node:
    """One graph node. inputs: list of (Node, output_index)."""
    __slots__ = ("op", "_name", "attrs", "inputs", "_params")

    def __init__(self, op, name, attrs=None, inputs=()):
        self.op = op                       # OpDef or None for a variable
        self.name = name
        self.attrs = check_attrs(attrs or {}, name)
        self.inputs = list(inputs)
        self._params = None

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = check_name(value, "node name")

    @property
    def is_variable(self):
        return self.op is None

    @property
    def params(self):
        """Parsed operator parameters (MXNet defaults filled in)."""
        if self._params is None:
            self._params = self.op.parse_params(self.attrs, self.name) if self.op else {}
        return self._params

    def input_names(self):
        return self.op.input_names(self.params, len(self.inputs) - len(self.aux_names())) \
            if self.op.variable_inputs else self.op.input_names(self.params)

    def aux_names(self):
        return self.op.aux_names(self.params) if self.op else []

    def num_outputs(self):
        return 1 if self.op is None else len(self.op.output_names(self.params))

    def num_visible(self):
        return 1 if self.op is None else self.op.num_visible(self.params)

    def output_name(self, i):
        if self.op is None:
            return self.name
        out = self.op.output_names(self.params)[i]
        return "%s_%s" % (self.name, out) if self.name else out     # an atomic symbol's


def topo_order(heads):
    """Depth-first post-order from the heads, inputs in order (nnvm's DFSVisit)."""
    order, seen = [], set()
    for head, _ in heads:
        if id(head) in seen:
            continue
        stack = [(head, 0)]
        seen.add(id(head))
        while stack:
            node, i = stack.pop()
            if i < len(node.inputs):
                stack.append((node, i + 1))
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                order.append(node)
    return order


MAX_SWEEPS = 100     # forward + backward passes of an inference (each learns or stops)


def propagate(order, visit, facts):
    """Run `visit(node, facts)` (True when it learned something) over the operator nodes
    forward, then backward, until a sweep learns nothing: shape and type inference both
    fill unknowns from either side this way."""
    ops = [n for n in order if not n.is_variable]
    for _sweep in range(MAX_SWEEPS):
        changed = False
        for n in ops:
            changed |= visit(n, facts)
        for n in reversed(ops):
            changed |= visit(n, facts)
        if not changed:
            break
    return facts


def aux_variables(order):
    """ids of variable nodes that some operator mutates (auxiliary states)."""
    aux = set()
    for node in order:
        if node.op is not None:
            n_in = len(node.inputs) - len(node.aux_names())
            for child, _ in node.inputs[n_in:]:
                aux.add(id(child))
    return aux
