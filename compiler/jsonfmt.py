"""MXNet's symbol JSON: the exact text dmlc's JSONWriter produces, and a tolerant reader."""
import json

from . import ops as _ops
from .errors import MXNetError


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _q(s):
    """A JSON string literal: dmlc's escapes, plus \\uXXXX for any other control character
    (which dmlc would write raw, giving JSON that strict readers refuse)."""
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is None and ord(ch) < 0x20:
            esc = "\\u%04x" % ord(ch)
        out.append(esc or ch)
    out.append('"')
    return "".join(out)


def _multiline(items, depth, open_, close):
    """dmlc layout: `", "` before each element but the first, newline + indent, element."""
    if not items:
        return open_ + close
    pad = "  " * depth
    parts = [open_]
    for i, item in enumerate(items):
        parts.append((", " if i else "") + "\n" + pad + item)
    parts.append("\n" + "  " * (depth - 1) + close)
    return "".join(parts)


def _int_array(values, depth):
    items = [str(v) for v in values]
    if len(items) > 10:
        return _multiline(items, depth, "[", "]")
    return "[" + ", ".join(items) + "]"


def _entry(e):
    return "[%d, %d, %d]" % tuple(e)


def _entries(entries, depth):
    items = [_entry(e) for e in entries]
    if len(items) > 10:
        return _multiline(items, depth, "[", "]")
    return "[" + ", ".join(items) + "]"


def _str_map(d, depth):
    items = ["%s: %s" % (_q(k), _q(d[k])) for k in sorted(d)]
    if len(items) > 1:
        return _multiline(items, depth, "{", "}")
    return "{" + ", ".join(items) + "}"


def _pooling_workspace(params):
    """MXNet's oneDNN build (the pip wheel) gives max pooling of 1-3 spatial dimensions in
    channel-first layout a second, hidden output: the workspace its backward pass reads."""
    layout = params.get("layout")
    return (params["pool_type"] == "max" and 1 <= len(params["kernel"]) <= 3
            and (layout is None or layout in ("NCW", "NCHW", "NCDHW")))


# Where MXNet's graph and mxc's count a node's outputs differently, by operator: MXNet's
# count minus mxc's, from the parsed parameters. The difference is always in trailing hidden
# outputs (max Pooling's oneDNN workspace and sort's indices, which mxc never computes; RNN's
# `reserve`, which MXNet keeps outside the graph), so it shows only in `node_row_ptr`: no
# input or head can refer to such an output. (MXNet names sort's visible output 'output0'
# for that reason; mxc's is 'output'.)
_OUTPUT_COUNT_DIFFERENCE = {"Pooling": lambda params: 1 if _pooling_workspace(params) else 0,
                            "RNN": lambda params: -1, "sort": lambda params: 1}


def graph_outputs(node):
    """How many outputs MXNet 1.9.1's graph gives the node, hidden ones included (BatchNorm's
    mean and var, Dropout's mask, max Pooling's workspace)."""
    if node.op is None:
        return 1
    difference = _OUTPUT_COUNT_DIFFERENCE.get(node.op.name)
    return node.num_outputs() + (difference(node.params) if difference else 0)


def input_versions(order):
    """{id(node): [version of each input]}: as nnvm counts them, an auxiliary state's version
    is how many operators have mutated that variable so far (in order), and every other
    input's is 0."""
    mutations, out = {}, {}
    for n in order:
        if n.op is None:
            continue
        n_in = len(n.inputs) - len(n.aux_names())
        versions = []
        for k, (c, _) in enumerate(n.inputs):
            if k >= n_in and c.op is None:
                mutations[id(c)] = mutations.get(id(c), 0) + 1
            versions.append(mutations.get(id(c), 0) if c.op is None else 0)
        out[id(n)] = versions
    return out


def dumps_graph(order, heads, version, np_shape=False):
    """Render nodes (topological order) and heads exactly as MXNet 1.x's tojson().

    `np_shape` adds the `is_np_shape` graph attribute MXNet writes under NumPy shape semantics.
    """
    index = {id(n): i for i, n in enumerate(order)}
    versions = input_versions(order)
    node_texts = []
    for n in order:
        fields = ['"op": %s' % _q("null" if n.op is None else n.op.name),
                  '"name": %s' % _q(n.name)]
        if n.attrs:
            fields.append('"attrs": %s' % _str_map(n.attrs, 4))
        entries = []
        if n.op is not None:
            entries = [(index[id(c)], i, v)
                       for (c, i), v in zip(n.inputs, versions[id(n)])]
        fields.append('"inputs": %s' % _entries(entries, 4))
        node_texts.append(_multiline(fields, 3, "{", "}"))
    row_ptr = [0]
    for n in order:
        row_ptr.append(row_ptr[-1] + graph_outputs(n))
    top = ['"nodes": %s' % _multiline(node_texts, 2, "[", "]"),
           '"arg_nodes": %s' % _int_array([i for i, n in enumerate(order) if n.op is None], 2),
           '"node_row_ptr": %s' % _int_array(row_ptr, 2),
           '"heads": %s' % _entries([(index[id(n)], i, 0) for n, i in heads], 2),
           _graph_attrs(version, np_shape)]
    return _multiline(top, 1, "{", "}")


def _graph_attrs(version, np_shape):
    """The graph's own attributes: one line for the version alone, else one per line."""
    version_entry = '"mxnet_version": ["int", %d]' % version
    if not np_shape:
        return '"attrs": {%s}' % version_entry
    return '"attrs": %s' % _multiline(['"is_np_shape": ["int", 1]', version_entry], 2, "{", "}")


_HIDDEN = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")

# Python's own failures while decoding a malformed document; each becomes one MXNetError
# that names the node (MXNetError itself passes through).
LOAD_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
               OverflowError, SyntaxError, UnicodeError, MemoryError)


class _Bad(Exception):
    """A structural defect in the document; converted into MXNetError with its context."""


def _bad(cond, message, *args):
    if not cond:
        raise _Bad(message % args if args else message)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _decode(text):
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise MXNetError("invalid symbol JSON: not UTF-8 text (byte %d)" % err.start) \
                from None
    if not isinstance(text, str):
        raise MXNetError("invalid symbol JSON: expected text, got %s" % type(text).__name__)
    return text


def _parse_document(text):
    try:
        js = json.loads(_decode(text), strict=False)
    except RecursionError:
        raise MXNetError("invalid symbol JSON: nested too deeply") from None
    except ValueError as err:
        raise MXNetError("invalid symbol JSON: %s" % err) from None
    if not isinstance(js, dict) or not isinstance(js.get("nodes"), list) \
            or not isinstance(js.get("heads"), list):
        raise MXNetError("invalid symbol JSON: expected an object with 'nodes' and 'heads' "
                         "lists")
    return js


def _version(js):
    gattrs = js.get("attrs")
    if gattrs is None:
        return 800
    try:
        _bad(isinstance(gattrs, dict), "graph 'attrs' is %s, not an object",
             type(gattrs).__name__)
        if "mxnet_version" not in gattrs:
            return 800
        entry = gattrs["mxnet_version"]
        _bad(isinstance(entry, list) and len(entry) == 2 and _is_int(entry[1]),
             "bad mxnet_version %.80r", entry)
        return entry[1]
    except _Bad as err:
        raise MXNetError("invalid symbol JSON: %s" % err) from None


def _attr_text(node_key, key, value):
    _bad(isinstance(value, (str, int, float)), "attribute '%s' in '%s' is %s, not a string",
         key, node_key, type(value).__name__)
    return value if isinstance(value, str) else str(value)


def _legacy_attrs(node_js):
    attrs = {}
    for field in ("param", "attr", "attrs"):
        table = node_js.get(field)
        if table is None:
            continue
        _bad(isinstance(table, dict), "'%s' is %s, not an object", field, type(table).__name__)
        for k, v in table.items():
            if field != "param" and k in _HIDDEN:
                k = "__%s__" % k
            attrs[k] = _attr_text(field, k, v)
    return attrs


def _read_entry(e, what, n_nodes):
    """(node index, output index) from a JSON [node, output(, version)] entry."""
    _bad(isinstance(e, list) and len(e) in (2, 3) and all(_is_int(x) for x in e),
         "%s %.80r is not [node, output, version] integers", what, e)
    _bad(0 <= e[0] < n_nodes, "%s %.80r refers to node %d; %s", what, e, e[0],
         "an input may only refer to one of the %d nodes before it" % n_nodes
         if what == "input" else "the graph has %d nodes" % n_nodes)
    _bad(e[1] >= 0, "%s %.80r has a negative output index", what, e)
    return e[0], e[1]


def _node_label(i, nj):
    name = nj.get("name") if isinstance(nj, dict) else None
    return "node %d ('%s')" % (i, name) if isinstance(name, str) else "node %d" % i


def _node_from_json(i, nj, nodes, version, Node):
    _bad(isinstance(nj, dict), "is %s, not an object", type(nj).__name__)
    _bad("op" in nj and "name" in nj, "lacks 'op' or 'name'")
    op_name, name = nj["op"], nj["name"]
    _bad(isinstance(op_name, str), "'op' is %s, not a string", type(op_name).__name__)
    _bad(isinstance(name, str), "'name' is %s, not a string", type(name).__name__)
    attrs = _legacy_attrs(nj)
    if op_name == "null":
        return Node(None, name, attrs)
    if op_name not in _ops.REGISTRY and op_name not in _ops.FUNCTIONS:
        raise MXNetError("Failed loading Op %s of type %s: mxc has no operator %s"
                         % (name, op_name, op_name))
    op = _ops.FUNCTIONS[op_name]
    node = Node(op, name, attrs)
    raw_inputs = nj.get("inputs", [])
    _bad(isinstance(raw_inputs, list), "'inputs' is %s, not a list", type(raw_inputs).__name__)
    inputs = []
    for e in raw_inputs:
        src, out = _read_entry(e, "input", i)
        _bad(out < nodes[src].num_outputs(), "input %.80r refers to output %d of '%s', which "
             "has %d", e, out, nodes[src].name, nodes[src].num_outputs())
        inputs.append((nodes[src], out))
    node.inputs = inputs
    try:
        node.params
    except MXNetError as err:
        raise MXNetError("invalid symbol JSON: %s" % err) from None
    _complete_inputs(node, inputs, attrs, version, Node)
    return node


def _complete_inputs(node, inputs, attrs, version, Node):
    """Re-create the aux inputs old files omit, and move legacy per-input attributes."""
    op = node.op
    n_expected = len(node.input_names()) + len(node.aux_names())
    if op.variable_inputs:
        n_expected = len(inputs)
    if not inputs:                      # an atomic symbol (an operator not yet composed)
        node.inputs = inputs
        return
    if len(inputs) < n_expected:       # old files omit aux inputs: re-create them
        for slot in (node.input_names() + node.aux_names())[len(inputs):]:
            vattrs = dict(attrs)
            if slot in op.input_init:
                vattrs.setdefault("__init__", op.input_init[slot])
            inputs.append((Node(None, "%s_%s" % (node.name, slot), vattrs), 0))
    elif len(inputs) > n_expected:
        raise MXNetError("invalid symbol JSON: node '%s' (%s) has %d inputs, expected %d"
                         % (node.name, op.name, len(inputs), n_expected))
    if version < 904:
        for slot, (c, _) in zip(node.input_names() + node.aux_names(), inputs):
            if c.op is None and slot in op.input_init and c.name == "%s_%s" % (node.name,
                                                                                slot):
                c.attrs.setdefault("__init__", op.input_init[slot])
    for key in list(node.attrs):        # legacy `weight_lr_mult` on the op node
        for slot, (c, _) in zip(node.input_names(), inputs):
            for h in ("lr_mult", "wd_mult"):
                if key == "%s_%s" % (slot, h) and c.op is None:
                    c.attrs["__%s__" % h] = node.attrs.pop(key)
    node._params = None
    node.inputs = inputs


def _heads(raw, nodes):
    heads = []
    for e in raw:
        src, out = _read_entry(e, "head", len(nodes))
        _bad(out < nodes[src].num_outputs(), "head %.80r refers to a missing output of '%s'",
             e, nodes[src].name)
        heads.append((nodes[src], out))
    _bad(heads, "the graph has no heads")
    return heads


def graph_from_json(text, Node):
    """Build nodes from MXNet JSON; returns the head list [(node, index)].

    Every defect is one MXNetError naming the node (and the attribute when one is at fault);
    an input may only refer to an earlier node, so no document can describe a cycle."""
    js = _parse_document(text)
    version = _version(js)
    nodes = []
    for i, nj in enumerate(js["nodes"]):
        try:
            nodes.append(_node_from_json(i, nj, nodes, version, Node))
        except MXNetError:
            raise
        except _Bad as err:
            raise MXNetError("invalid symbol JSON: %s %s" % (_node_label(i, nj), err)) \
                from None
        except LOAD_ERRORS as err:
            raise MXNetError("invalid symbol JSON: %s: %s: %s" % (
                _node_label(i, nj), type(err).__name__, str(err)[:200])) from None
    try:
        return _heads(js["heads"], nodes)
    except _Bad as err:
        raise MXNetError("invalid symbol JSON: %s" % err) from None
