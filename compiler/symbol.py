"""Symbol graphs with MXNet 1.x semantics: naming, listing, composition and the JSON format.

A `Symbol` is a list of heads (node, output index) over the graph of `graph.py` (its nodes,
names and order); operators come from the registry in `ops`.
"""
import json
import threading
import warnings
from numbers import Integral, Number

from . import ops as _ops
from .errors import MXNetError
from .graph import (NameManager, Node, Prefix, aux_variables,  # noqa: F401 (mx.name)
                    check_attrs, check_name, current_name_manager, topo_order)
from .jsonfmt import dumps_graph, input_versions
from .semantics import is_np_shape, legacy_shape
from .shape import infer_graph_shapes

MXNET_VERSION = 10901
_DTYPE_CODES = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5,
                "int64": 6, "bool": 7, "bfloat16": 12}


class SymbolTypeError(MXNetError, TypeError):
    """An argument of the wrong type (MXNet raises TypeError for these)."""


# ---- attribute scopes -------------------------------------------------------------------------

class _ScopeClass(type):
    """Gives AttrScope MXNet's class-level `AttrScope.current` (read and assigned; both
    deprecated in MXNet in favour of `with AttrScope(...)`)."""

    @property
    def current(cls):
        warnings.warn("AttrScope.current has been deprecated. It is advised to use the `with` "
                      "statement with AttrScope.", DeprecationWarning, stacklevel=2)
        return _current_scope()

    @current.setter
    def current(cls, scope):
        warnings.warn("AttrScope.current has been deprecated. It is advised to use the `with` "
                      "statement with AttrScope.", DeprecationWarning, stacklevel=2)
        AttrScope._current.value = scope


class AttrScope(metaclass=_ScopeClass):
    """Attributes given to every symbol created inside the scope (values must be strings);
    nested scopes add to (and override) the enclosing one. One current scope per thread."""
    _current = threading.local()

    def __init__(self, **kwargs):
        for v in kwargs.values():
            if not isinstance(v, str):
                raise ValueError("Attributes need to be string")
        self._attr = kwargs
        self._old_scope = None

    def get(self, attr):
        """The scope's attributes updated with `attr` (a new dict)."""
        out = dict(self._attr)
        out.update(attr or {})
        return out

    def __enter__(self):
        self._old_scope = _current_scope()
        merged = dict(self._old_scope._attr)
        merged.update(self._attr)
        self._attr = merged
        AttrScope._current.value = self
        return self

    def __exit__(self, *exc):
        AttrScope._current.value = self._old_scope


def _current_scope():
    if getattr(AttrScope._current, "value", None) is None:
        AttrScope._current.value = AttrScope()
    return AttrScope._current.value


def _hidden_key(key, for_op):
    """MXNet's spelling of a system attribute: `lr_mult` is stored as `__lr_mult__` (on an
    operator, `weight_lr_mult` is refused as MXNet refuses it)."""
    for hidden in _ops.base.HIDDEN_KEYS:
        if key == hidden:
            return "__%s__" % key
        if for_op and key.endswith("_" + hidden) and not key.startswith("__"):
            raise MXNetError("setting variable attributes with %s is deprecated. please "
                             "instead use\nw = Variable(%s=...)\nsym = YourSymbolName(%s=w)"
                             % (key, hidden, key[:-len(hidden) - 1]))
    return key


def _normalize_attr(attr, for_op=False):
    out = {}
    for k, v in (attr or {}).items():
        if not isinstance(v, str):
            raise ValueError("Attribute values must be strings: %s=%r" % (k, v))
        out[_hidden_key(k, for_op)] = v
    return out


def _with_plain_keys(attrs):
    """An attribute dict as MXNet lists it: each `__lr_mult__`-style system key is listed a
    second time under its plain name (`lr_mult`)."""
    out = dict(attrs)
    for hidden in _ops.base.HIDDEN_KEYS:
        key = "__%s__" % hidden
        if key in attrs:
            out[hidden] = attrs[key]
    return out


# ---- Symbol -----------------------------------------------------------------------------------

class Symbol:
    """A list of graph outputs; the user-facing handle of MXNet's symbolic API."""

    def __init__(self, heads):
        self._heads = [(n, int(i)) for n, i in heads]

    # listing
    def _order(self):
        return topo_order(self._heads)

    @property
    def name(self):
        """The node's name; None for a group of outputs of several nodes."""
        node = self._single_node()
        return None if node is None else node.name

    def list_arguments(self):
        order = self._order()
        aux = aux_variables(order)
        return [n.name for n in order if n.is_variable and id(n) not in aux]

    def list_auxiliary_states(self):
        order = self._order()
        aux = aux_variables(order)
        return [n.name for n in order if n.is_variable and id(n) in aux]

    def list_inputs(self):
        return [n.name for n in self._order() if n.is_variable]

    def list_outputs(self):
        return [n.output_name(i) for n, i in self._heads]

    def get_internals(self):
        heads = []
        for node in self._order():
            heads.extend((node, i) for i in range(node.num_visible()))
        return Symbol(heads)

    def get_children(self):
        """The inputs of this symbol's node(s) as one symbol (each distinct head node's
        inputs in order), or None for variables."""
        entries, seen = [], set()
        for node, _ in self._heads:
            if id(node) not in seen:
                seen.add(id(node))
                entries.extend(node.inputs)
        return Symbol(entries) if entries else None

    def __len__(self):
        return len(self._heads)

    def __iter__(self):
        return (Symbol([h]) for h in self._heads)

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            hits = [i for i, n in enumerate(names) if n == index]
            if len(hits) > 1:
                raise ValueError('There are multiple outputs with name "%s"' % index)
            if not hits:
                raise ValueError('Cannot find output that matches name "%s"' % index)
            index = hits[0]
        if isinstance(index, slice):
            return Symbol(self._heads[index])
        if isinstance(index, bool) or not isinstance(index, Integral):
            raise TypeError("Symbol only support integer index to fetch i-th output")
        index = int(index)
        if not -len(self._heads) <= index < len(self._heads):
            raise IndexError("Symbol has %d outputs" % len(self._heads))
        return Symbol([self._heads[index]])

    def __repr__(self):
        if self.name is None:
            return "<Symbol group [%s]>" % ", ".join(str(n.name) for n, _ in self._heads)
        return "<Symbol %s>" % self.name

    # attributes
    def _single_node(self):
        """The node of a symbol whose outputs all come from one node, else None."""
        node = self._heads[0][0]
        return node if all(n is node for n, _ in self._heads) else None

    def attr(self, key):
        """The attribute `key` of this symbol's node (None when absent or for a group of
        several nodes); `lr_mult` also finds `__lr_mult__`."""
        node = self._single_node()
        if node is None:
            return None
        if key == "name":
            return node.name
        if key == "op_name":
            return "null" if node.op is None else node.op.name
        if key == "_value_index":
            return ", ".join(str(i) for _, i in self._heads)
        if key in node.attrs:
            return node.attrs[key]
        if key in _ops.base.HIDDEN_KEYS:
            return node.attrs.get("__%s__" % key)
        return None

    def list_attr(self, recursive=False):
        """The attributes of this symbol's (first) node; system keys also by plain name."""
        if recursive:
            raise DeprecationWarning("Symbol.list_attr with recursive=True has been deprecated. "
                                     "Please use attr_dict instead.")
        return _with_plain_keys(self._heads[0][0].attrs)

    def attr_dict(self):
        """{node name: its attributes} for every node of the graph that has any."""
        out = {}
        for n in self._order():
            if n.attrs:
                out.setdefault(n.name, {}).update(_with_plain_keys(n.attrs))
        return out

    def _set_attr(self, **kwargs):
        """Set attributes of this symbol's node (`name` renames it); values must be strings."""
        node = self._single_node()
        if node is None:
            raise MXNetError("Symbol._set_attr only works for non-grouped symbols")
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError("Set Attr only accepts string values")
        old_attrs, old_name = dict(node.attrs), node.name
        for k, v in kwargs.items():
            if k == "name":
                node.name = v
            else:
                node.attrs.update(check_attrs({_hidden_key(k, False): v}, node.name))
        node._params = None
        if node.op is not None:
            try:
                node.params
            except MXNetError:
                node.attrs.clear()
                node.attrs.update(old_attrs)
                node.name = old_name
                node._params = None
                raise

    # shapes and types
    def infer_shape(self, *args, **kwargs):
        return self._infer_shape(False, args, kwargs)

    def infer_shape_partial(self, *args, **kwargs):
        return self._infer_shape(True, args, kwargs)

    def _infer_shape(self, partial, args, kwargs):
        """MXNet's infer_shape / infer_shape_partial: (argument, output, aux) shapes in list
        order. Partial results show an unknown dimension as 0 and an unknown shape as ()
        (-1 and None under NumPy shape semantics); infer_shape gives (None, None, None) and a
        warning naming the undecided arguments when any shape in the graph stays unknown."""
        if args and kwargs:
            raise ValueError("Can only specify known argument shapes either by positional "
                             "or kwargs way.")
        known = dict(kwargs)
        if args:
            for name, shp in zip(self.list_arguments(), args):
                if shp is not None:
                    known[name] = shp
        for name, shp in known.items():
            if shp is not None and not isinstance(shp, (tuple, list)):
                raise TypeError("Arguments need to be shapes (tuple), got %r for '%s'"
                                % (shp, name))
        known = {name: legacy_shape(shp, name) for name, shp in known.items()}
        shapes = infer_graph_shapes(self._heads, known, partial=True)
        order = self._order()
        aux = aux_variables(order)
        args_s = [shapes.get((id(n), 0)) for n in order if n.is_variable and id(n) not in aux]
        aux_s = [shapes.get((id(n), 0)) for n in order if n.is_variable and id(n) in aux]
        out_s = [shapes.get((id(n), i)) for n, i in self._heads]
        np_mode = is_np_shape()

        def shown(s):
            if s is None or len(s) == 0:
                return None if np_mode else ()
            return tuple(-1 if np_mode and d == 0 else int(d) for d in s)

        if partial:
            return ([shown(s) for s in args_s], [shown(s) for s in out_s],
                    [shown(s) for s in aux_s])
        complete = lambda s: s is not None and len(s) > 0 and all(s)  # noqa: E731
        if not all(complete(shapes.get((id(n), i))) for n in order
                   for i in range(n.num_outputs())):
            import warnings
            unknowns = []
            for name, s in zip(self.list_arguments(), args_s):
                if not complete(s):
                    if len(unknowns) >= 10:
                        unknowns.append("...")
                        break
                    unknowns.append("%s: %s" % (name, shown(s)))
            warnings.warn("Cannot decide shape for the following arguments (0s in shape "
                          "means unknown dimensions). Consider providing them as input:\n\t"
                          + "\n\t".join(unknowns), stacklevel=3)
            return None, None, None
        return ([shown(s) for s in args_s], [shown(s) for s in out_s],
                [shown(s) for s in aux_s])

    def infer_type(self, *args, **kwargs):
        """MXNet's infer_type: (argument, output, aux) types (NumPy types) from the types of
        some arguments, positionally or by name; (None, None, None) and a warning naming the
        undecided arguments when some type in the graph stays unknown."""
        return self._infer_type(False, args, kwargs)

    def infer_type_partial(self, *args, **kwargs):
        """infer_type, with None for each type that stays unknown."""
        return self._infer_type(True, args, kwargs)

    def _infer_type(self, partial, args, kwargs):
        import numpy as np
        from .typeinfer import dtype_name, infer_graph_types
        if args and kwargs:
            raise ValueError("Can only specify known argument types either by positional "
                             "or kwargs way.")
        given = dict(kwargs)
        if args:
            given = {n: t for n, t in zip(self.list_arguments(), args) if t is not None}
        known = {name: dtype_name(t, "argument '%s'" % name) for name, t in given.items()}
        types = infer_graph_types(self._heads, known)
        order = self._order()
        aux = aux_variables(order)
        args_t = [types.get((id(n), 0)) for n in order if n.is_variable and id(n) not in aux]
        aux_t = [types.get((id(n), 0)) for n in order if n.is_variable and id(n) in aux]
        out_t = [types.get((id(n), i)) for n, i in self._heads]
        shown = lambda lst: [None if t is None else np.dtype(t).type for t in lst]  # noqa
        if not partial and not all(types.get((id(n), i)) is not None for n in order
                                   for i in range(n.num_outputs())):
            import warnings
            unknowns = [n for n, t in zip(self.list_arguments(), args_t) if t is None]
            unknowns = ["%s: None" % n for n in unknowns[:10]] + \
                (["..."] if len(unknowns) > 10 else [])
            warnings.warn("Cannot decide type for the following arguments. Consider providing "
                          "them as input:\n\t" + "\n\t".join(unknowns), stacklevel=3)
            return None, None, None
        return shown(args_t), shown(out_t), shown(aux_t)

    # serialization
    def tojson(self, remove_amp_cast=True):
        return dumps_graph(self._order(), self._heads, MXNET_VERSION, np_shape=is_np_shape())

    def save(self, fname, remove_amp_cast=True):
        from .fileio import atomic_write
        atomic_write(fname, self.tojson().encode("utf-8"))

    def debug_str(self):
        """The graph in MXNet's words: the outputs, then each node in order (variables by
        name; operators with their inputs, the version of each variable input (how many
        operators have mutated it by then) and their sorted attributes)."""
        node = self._single_node()
        if node is not None and node.op is not None and not node.inputs:
            return "AtomicFunctor  Op:%s\n" % node.op.name
        lines = ["Symbol Outputs:"]
        lines += ["\toutput[%d]=%s(%d)" % (k, n.name, i) for k, (n, i) in enumerate(self._heads)]
        order = self._order()
        versions = input_versions(order)
        for node in order:
            if node.op is None:
                lines.append("Variable:%s" % node.name)
                continue
            lines += ["--------------------", "Op:%s, Name=%s" % (node.op.name, node.name),
                      "Inputs:"]
            for k, (child, i) in enumerate(node.inputs):
                text = "\targ[%d]=%s(%d)" % (k, child.name, i)
                if child.op is None:
                    text += " version=%d" % versions[id(node)][k]
                lines.append(text)
            if node.attrs:
                lines.append("Attrs:")
                lines += ["\t%s=%s" % (k, node.attrs[k]) for k in sorted(node.attrs)]
        return "\n".join(lines) + "\n"

    def __getstate__(self):
        return {"handle": self.tojson()}       # MXNet's pickled form

    def __setstate__(self, state):
        self._heads = load_json(state["handle"] if "handle" in state else state["json"])._heads

    def __copy__(self):
        return load_json(self.tojson())

    def __deepcopy__(self, memo):
        return load_json(self.tojson())

    # composition
    def _compose(self, *args, **kwargs):
        """Compose in place: this symbol becomes self(*args, **kwargs)."""
        self._heads = self(*args, **kwargs)._heads

    def _gen_atomic_symbol(self):
        """The operator of this symbol's node alone: same attributes, no inputs, no name (as
        MXNet's); calling it composes a new node."""
        node = self._single_node()
        if node is None:
            raise MXNetError("Generating atomic symbol from other symbol is not supported.")
        if node.op is None:
            raise MXNetError("Generating atomic symbol from variable is not supported.")
        atom = Node(node.op, "", dict(node.attrs))
        return Symbol([(atom, i) for i in range(atom.num_visible())])

    def __call__(self, *args, **kwargs):
        name = kwargs.pop("name", None)
        node = self._single_node()
        if node is not None and node.op is not None and not node.inputs:
            # an atomic symbol: compose its operator with these inputs
            params = {k: v for k, v in node.attrs.items() if k in node.op.params}
            attr = {k: v for k, v in node.attrs.items() if k not in params}
            return create_op(node.op.name, list(args), params, name=name, attr=attr,
                             named_inputs=kwargs)
        if args and kwargs:
            raise TypeError("compose only accept input Symbols either as positional or "
                            "keyword arguments, not both")
        for key, sym in list(enumerate(args)) + list(kwargs.items()):
            if not isinstance(sym, Symbol):
                raise TypeError("compose expects input %r to be a Symbol, got %s"
                                % (key, type(sym).__name__))
            if len(sym._heads) != 1:
                raise MXNetError("compose: input %r is a group of %d outputs; a single "
                                 "output is required" % (key, len(sym._heads)))
        copy = load_json(self.tojson())
        order = copy._order()
        free = [n for n in order if n.is_variable]
        subst = {}
        if args:
            for node, sym in zip(free, args):
                subst[id(node)] = sym._heads[0]
        for key, sym in kwargs.items():
            for node in free:
                if node.name == key:
                    subst[id(node)] = sym._heads[0]
        for node in order:
            node.inputs = [subst.get(id(c), (c, i)) for c, i in node.inputs]
        copy._heads = [subst.get(id(n), (n, i)) for n, i in copy._heads]
        if name and len(copy._heads) == 1:
            copy._heads[0][0].name = name
        return copy

    # operators on symbols (the ops are registered in ops/; see reference table 1.6)
    def _binary(self, other, op, hint, scalar_op, scalar_hint, reverse=False):
        if isinstance(other, Symbol):
            a, b = (other, self) if reverse else (self, other)
            return create_op(op, [a, b], {}, hint=hint)
        if isinstance(other, Number):       # Python and NumPy numbers, written as str() does
            return create_op(scalar_op, [self], {"scalar": _param_str(other)}, hint=scalar_hint)
        return NotImplemented

    # NumPy numbers and arrays on the left leave the operation to the Symbol's reflected form
    __array_ufunc__ = None

    def __add__(self, o):
        return self._binary(o, "elemwise_add", "_plus", "_plus_scalar", "_plusscalar")

    __radd__ = __add__

    def __sub__(self, o):
        return self._binary(o, "elemwise_sub", "_minus", "_minus_scalar", "_minusscalar")

    def __rsub__(self, o):
        return self._binary(o, "elemwise_sub", "_minus", "_rminus_scalar", "_rminusscalar",
                            reverse=True)

    def __mul__(self, o):
        return self._binary(o, "elemwise_mul", "_mul", "_mul_scalar", "_mulscalar")

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self._binary(o, "elemwise_div", "_div", "_div_scalar", "_divscalar")

    def __rtruediv__(self, o):
        return self._binary(o, "elemwise_div", "_div", "_rdiv_scalar", "_rdivscalar",
                            reverse=True)

    def __pow__(self, o):
        return self._binary(o, "_power", "_power", "_power_scalar", "_powerscalar")

    def __rpow__(self, o):
        return self._binary(o, "_power", "_power", "_rpower_scalar", "_rpower_scalar",
                            reverse=True)

    def __mod__(self, o):
        return self._binary(o, "_mod", "_mod", "_mod_scalar", "_modscalar")

    def __rmod__(self, o):
        return self._binary(o, "_mod", "_mod", "_rmod_scalar", "_rmodscalar", reverse=True)

    def __neg__(self):
        return create_op("_mul_scalar", [self], {"scalar": "-1.0"}, hint="_mulscalar")

    # comparisons give 0/1 symbols, as MXNet's (no broadcasting: use broadcast_equal, ...);
    # a Symbol stays hashable by identity
    __hash__ = object.__hash__

    def __eq__(self, o):
        return self._binary(o, "_equal", "_equal", "_equal_scalar", "_equal_scalar")

    def __ne__(self, o):
        return self._binary(o, "_not_equal", "_not_equal", "_not_equal_scalar",
                            "_not_equal_scalar")

    def __gt__(self, o):
        return self._binary(o, "_greater", "_greater", "_greater_scalar", "_greater_scalar")

    def __ge__(self, o):
        return self._binary(o, "_greater_equal", "_greater_equal", "_greater_equal_scalar",
                            "_greater_equal_scalar")

    def __lt__(self, o):
        return self._binary(o, "_lesser", "_lesser", "_lesser_scalar", "_lesser_scalar")

    def __le__(self, o):
        return self._binary(o, "_lesser_equal", "_lesser_equal", "_lesser_equal_scalar",
                            "_lesser_equal_scalar")

    def __abs__(self):
        return create_op("abs", [self], {}, hint="abs")

    def __iadd__(self, o):
        raise NotImplementedError("in-place operators are not supported on Symbol")

    __isub__ = __imul__ = __itruediv__ = __iadd__

    def __bool__(self):
        raise NotImplementedError("Symbol has no truth value")

    def __getattr__(self, name):
        # method forms of operators: sym.reshape(...), sym.exp(), ...
        if name.startswith("_") or name not in _ops.FUNCTIONS:
            raise AttributeError("'Symbol' object has no attribute %r" % name)

        def method(*args, **kwargs):
            return _function(name)(self, *args, **kwargs)
        return method


# ---- constructors -----------------------------------------------------------------------------

def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs):
    """A named graph input (op "null"); keywords become `__key__` attributes, and the
    attribute scope's and `attr`'s system keys (lr_mult, ctx_group, ...) are stored as
    `__key__` as MXNet stores them."""
    if not isinstance(name, str):
        raise TypeError("Expect a string for variable `name`")
    attrs = dict(_current_scope().get(attr))
    if shape is not None:
        attrs["__shape__"] = _param_str(shape)
    if lr_mult is not None:
        attrs["__lr_mult__"] = _param_str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = _param_str(wd_mult)
    if dtype is not None:
        import numpy as np
        attrs["__dtype__"] = str(_DTYPE_CODES[np.dtype(dtype).name])
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        codes = {"default": 0, "row_sparse": 1, "csr": 2}
        if stype not in codes:
            raise MXNetError("variable '%s': unknown storage type %r (expected 'default', "
                             "'row_sparse' or 'csr')" % (name, stype))
        attrs["__storage_type__"] = str(codes[stype])
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = _param_str(v)
        else:
            raise ValueError("Attribute name=%s is not supported. Additional attributes must "
                             "start and end with double underscores, e.g, __yourattr__" % k)
    return Symbol([(Node(None, name, _normalize_attr(attrs)), 0)])


var = Variable


def Group(symbols):
    """A symbol whose outputs are the outputs of all given symbols, in order."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Expected a list of symbols as input")
    heads = []
    for s in symbols:
        heads.extend(s._heads)
    return Symbol(heads)


# ---- operators on a symbol or a number (MXNet's symbol.pow / maximum / minimum / hypot) ------

def _symbol_or_number(left, right, op, scalar_op, rscalar_op, numbers):
    """`op` (name, hint) for two symbols, `scalar_op` for symbol and number, `rscalar_op` for
    number and symbol (the number as `scalar`), `numbers` for two numbers."""
    from numbers import Integral, Number
    if isinstance(left, Symbol) and isinstance(right, Symbol):
        return create_op(op[0], [left, right], {}, hint=op[1])
    if isinstance(left, Symbol) and isinstance(right, Number):
        return create_op(scalar_op[0], [left], {"scalar": right}, hint=scalar_op[1])
    if isinstance(left, Number) and isinstance(right, Symbol):
        return create_op(rscalar_op[0], [right], {"scalar": left}, hint=rscalar_op[1])
    if isinstance(left, Number) and isinstance(right, Number):
        return numbers(left, right)
    raise TypeError("types (%s, %s) not supported" % (type(left), type(right)))


def pow(base, exp):
    """base ** exp element-wise; either may be a number."""
    return _symbol_or_number(base, exp, ("_power", "_power"), ("_power_scalar", "_powerscalar"),
                             ("_rpower_scalar", "_rpowerscalar"), lambda a, b: a ** b)


power = pow


def maximum(left, right):
    """Element-wise maximum; either may be a number."""
    return _symbol_or_number(left, right, ("_maximum", "_maximum"),
                             ("_maximum_scalar", "_maximumscalar"),
                             ("_maximum_scalar", "_maximumscalar"),
                             lambda a, b: a if a > b else b)


def minimum(left, right):
    """Element-wise minimum; either may be a number."""
    return _symbol_or_number(left, right, ("_minimum", "_minimum"),
                             ("_minimum_scalar", "_minimumscalar"),
                             ("_minimum_scalar", "_minimumscalar"),
                             lambda a, b: a if a < b else b)


def hypot(left, right):
    """sqrt(left ** 2 + right ** 2) element-wise; either may be a number."""
    import math
    return _symbol_or_number(left, right, ("_hypot", "_hypot"),
                             ("_hypot_scalar", "_hypotscalar"), ("_hypot_scalar", "_hypotscalar"),
                             math.hypot)


class _Internal:
    """mx.sym._internal: MXNet's namespace of the operators whose names begin with '_'
    (_plus, _zeros, _copy, _identity_with_attr_like_rhs, ...)."""

    def __getattr__(self, name):
        if name.startswith("_") and not name.startswith("__") and name in _ops.FUNCTIONS:
            return _function(name)
        raise AttributeError("mx.sym._internal has no operator %r" % name)

    def __dir__(self):
        return sorted(n for n in _ops.FUNCTIONS if n.startswith("_") and not n.startswith("__"))


_internal = _Internal()


# ---- constant symbols (MXNet's symbol.zeros / ones / full over _zeros / _ones / _full) -------

def zeros(shape, dtype=None, **kwargs):
    """A constant of zeros; 0 in `shape` is a dimension that shape inference fills."""
    return _function("_zeros")(shape=shape, dtype="float32" if dtype is None else dtype,
                               **kwargs)


def ones(shape, dtype=None, **kwargs):
    """A constant of ones; 0 in `shape` is a dimension that shape inference fills."""
    return _function("_ones")(shape=shape, dtype="float32" if dtype is None else dtype,
                              **kwargs)


def full(shape, val, dtype=None, **kwargs):
    """A constant filled with `val`; 0 in `shape` is a dimension that shape inference fills."""
    return _function("_full")(shape=shape, dtype="float32" if dtype is None else dtype,
                              value=float(val), **kwargs)


def _param_str(value):
    if isinstance(value, str):
        return value
    if hasattr(value, "dtype") and hasattr(value, "type") or isinstance(value, type):
        import numpy as np
        return np.dtype(value).name

    def plain(v):
        """NumPy scalars in a tuple as Python numbers written as str() writes the scalar, so
        that (np.int64(3), np.float32(0.1)) is written (3, 0.1) as MXNet does."""
        if isinstance(v, (tuple, list)):
            return type(v)(plain(e) for e in v)
        if type(v).__module__ == "numpy" and getattr(v, "shape", None) == ():
            return v.item() if isinstance(v.item(), (bool, int)) else float(str(v))
        return v
    return str(plain(value))


def _none_is_a_value(op, key):
    """None given for an optional parameter whose default is a value means "no value" (topk's
    axis=None: the flattened input), written 'None' as MXNet writes it; elsewhere None is
    left out."""
    prm = op.params.get(key)
    if prm is None or prm.default is None or prm.default is _ops.base.REQUIRED:
        return False
    try:
        return prm.read("None") is None
    except (ValueError, TypeError):
        return False


def create_op(op_name, inputs, params, name=None, attr=None, hint=None, named_inputs=None):
    """Create an operator node; missing inputs become `<name>_<input>` variables."""
    op = _ops.get(op_name)
    attrs = {k: _param_str(v) for k, v in params.items()
             if v is not None or _none_is_a_value(op, k)}
    attrs.update(_current_scope().get(attr))     # as MXNet: the scope's and attr's win
    attrs = _normalize_attr(attrs, for_op=True)
    named_inputs = dict(named_inputs or {})
    if op.variable_inputs:
        attrs.setdefault("num_args", str(len(inputs)))
    node_name = current_name_manager().get(name, hint or op.hint)
    node = Node(op, node_name, attrs)
    parsed = node.params
    if op.variable_inputs:
        in_names = op.input_names(parsed, int(attrs["num_args"]))
    else:
        in_names = op.input_names(parsed)
    aux_names = op.aux_names(parsed)
    slots = in_names + aux_names
    if len(inputs) > len(slots):
        raise MXNetError("operator %s (node '%s') takes %d inputs (%s), got %d"
                         % (op.name, node_name, len(slots), ", ".join(slots), len(inputs)))
    given = dict(zip(slots, inputs))
    for key in list(named_inputs):
        if key not in slots:
            raise MXNetError("operator %s (node '%s') has no input named '%s' (inputs: %s)"
                             % (op.name, node_name, key, ", ".join(slots)))
        given[key] = named_inputs.pop(key)
    entries = []
    for slot in slots:
        sym = given.get(slot)
        if sym is None:
            vattrs = dict(node.attrs)
            if slot in op.input_init and "__init__" not in vattrs:
                vattrs["__init__"] = op.input_init[slot]
            entries.append((Node(None, "%s_%s" % (node_name, slot), vattrs), 0))
        else:
            if not isinstance(sym, Symbol):
                raise TypeError("operator %s (node '%s'): input '%s' must be a Symbol, got %s"
                                % (op.name, node_name, slot, type(sym).__name__))
            if len(sym._heads) != 1:
                raise MXNetError("operator %s (node '%s'): input '%s' is a group of %d outputs;"
                                 " compose with a single output" % (op.name, node_name, slot,
                                                                    len(sym._heads)))
            given_node = sym._heads[0][0]
            if given_node.op is None and slot in op.input_init \
                    and "__init__" not in given_node.attrs:
                # as MXNet's FSetInputVarAttrOnCompose: a variable given as a BatchNorm
                # moving_mean, a PReLU gamma, ... takes that input's initializer
                given_node.attrs["__init__"] = op.input_init[slot]
            entries.append(sym._heads[0])
    node.inputs = entries
    return Symbol([(node, i) for i in range(node.num_visible())])


def _positional(op, fname, args, params):
    """(inputs, params) from positional arguments as MXNet's generated functions read them:
    the leading symbols are inputs, the numbers after them the operator's parameters in
    their declared order (Dropout(data, 0.5) is p=0.5)."""
    n_inputs = 0
    while n_inputs < len(args) and (args[n_inputs] is None
                                    or isinstance(args[n_inputs], Symbol)):
        n_inputs += 1
    rest = args[n_inputs:]
    if any(isinstance(a, Symbol) for a in rest):
        raise TypeError("%s: symbol inputs must come before the parameters" % fname)
    if len(rest) > len(op.params):
        raise TypeError("%s takes at most %d parameters (%s), got %d positionally"
                        % (fname, len(op.params), ", ".join(op.params), len(rest)))
    params = dict(params)
    for key, value in zip(op.params, rest):
        if key in params:
            raise TypeError("%s got multiple values for parameter '%s'" % (fname, key))
        params[key] = value
    inputs = list(args[:n_inputs])
    while inputs and inputs[-1] is None:          # inputs left out (bias with no_bias=True)
        inputs.pop()
    return inputs, params


def _function(fname):
    op = _ops.FUNCTIONS[fname]

    def make(*args, **kwargs):
        name = kwargs.pop("name", None)
        attr = kwargs.pop("attr", None)
        sym_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
        params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
        if op.variable_inputs:
            inputs = list(args)
            if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
                inputs = list(inputs[0])
            inputs += [sym_kwargs.pop(k) for k in sorted(sym_kwargs) if k.startswith("arg")]
            if "data" in sym_kwargs:
                inputs.append(sym_kwargs.pop("data"))
        else:
            inputs, params = _positional(op, fname, args, params)
        return create_op(op.name, inputs, params, name=name, attr=attr, hint=fname.lower(),
                         named_inputs=sym_kwargs)
    make.__name__ = fname
    make.__doc__ = "MXNet operator %s (see the MXNet 1.x documentation)." % op.name
    return make


_MADE = {}     # operator functions made so far (kept out of globals(): mx.sym.slice, abs,
              # max, ... must not hide Python's builtins inside this module)


def __getattr__(name):
    """mx.sym.<Operator>(...) for every registered operator and alias."""
    if name in _ops.FUNCTIONS:
        if name not in _MADE:
            _MADE[name] = _function(name)
        return _MADE[name]
    raise AttributeError("module 'mxc.symbol' has no operator or attribute %r" % name)


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False, name=None, attr=None):
    """MXNet's split_v2: _split_v2 at the given split points (a leading 0 added) or into
    `indices_or_sections` near-equal sections."""
    from .ops.shape_ops import split_v2_params
    params = dict(split_v2_params(indices_or_sections), axis=axis, squeeze_axis=squeeze_axis)
    return create_op("_split_v2", [ary], params, name=name, attr=attr)


# ---- loading ----------------------------------------------------------------------------------

def load_json(json_str):
    """Parse MXNet symbol JSON (1.x, nnvm-era and pre-nnvm layouts); text or UTF-8 bytes.
    Any defect is one MXNetError naming the node at fault."""
    from .jsonfmt import LOAD_ERRORS, graph_from_json
    if not isinstance(json_str, (str, bytes, bytearray, memoryview)):
        raise SymbolTypeError("invalid symbol JSON: expected text (str or UTF-8 bytes), got %s"
                              % type(json_str).__name__)
    try:
        return Symbol(graph_from_json(json_str, Node))
    except MXNetError:
        raise
    except LOAD_ERRORS as err:
        raise MXNetError("invalid symbol JSON: %s: %s" % (type(err).__name__,
                                                          str(err)[:200])) from None


def load(fname):
    """Load a symbol from a `-symbol.json` file."""
    try:
        with open(fname, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise MXNetError("cannot read symbol file '%s': %s" % (fname, err)) from None
    try:
        return load_json(raw)
    except MXNetError as err:
        raise MXNetError("symbol file '%s': %s" % (fname, err)) from None


def fromjson(json_str):
    return load_json(json_str)
