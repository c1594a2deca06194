"""MXNet's symbol JSON: the exact text dmlc's JSONWriter produces, and a tolerant reader."""
import json

from . import ops as _ops
from .errors import MXNetError


def _q(s):
    out = ['"']
    for ch in s:
        out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, ch))
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


def dumps_graph(order, heads, version):
    """Render nodes (topological order) and heads exactly as MXNet 1.x's tojson()."""
    index = {id(n): i for i, n in enumerate(order)}
    aux_ids = set()
    for n in order:
        if n.op is not None:
            n_in = len(n.inputs) - len(n.aux_names())
            aux_ids.update(id(c) for c, _ in n.inputs[n_in:])
    node_texts = []
    for n in order:
        fields = ['"op": %s' % _q("null" if n.op is None else n.op.name),
                  '"name": %s' % _q(n.name)]
        if n.attrs:
            fields.append('"attrs": %s' % _str_map(n.attrs, 4))
        entries = []
        if n.op is not None:
            n_in = len(n.inputs) - len(n.aux_names())
            for k, (c, i) in enumerate(n.inputs):
                entries.append((index[id(c)], i, 1 if k >= n_in else 0))
        fields.append('"inputs": %s' % _entries(entries, 4))
        node_texts.append(_multiline(fields, 3, "{", "}"))
    row_ptr = [0]
    for n in order:
        row_ptr.append(row_ptr[-1] + n.num_outputs())
    top = ['"nodes": %s' % _multiline(node_texts, 2, "[", "]"),
           '"arg_nodes": %s' % _int_array([i for i, n in enumerate(order) if n.op is None], 2),
           '"node_row_ptr": %s' % _int_array(row_ptr, 2),
           '"heads": %s' % _entries([(index[id(n)], i, 0) for n, i in heads], 2),
           '"attrs": {"mxnet_version": ["int", %d]}' % version]
    return _multiline(top, 1, "{", "}")


_HIDDEN = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")


def _legacy_attrs(node_js, is_variable):
    attrs = {}
    for key in ("param", "attr", "attrs"):
        for k, v in (node_js.get(key) or {}).items():
            if key != "param" and k in _HIDDEN:
                k = "__%s__" % k
            attrs[k] = str(v)
    return attrs


def graph_from_json(text, Node):
    """Build nodes from MXNet JSON; returns the head list [(node, index)]."""
    try:
        js = json.loads(text)
    except ValueError as err:
        raise MXNetError("invalid symbol JSON: %s" % err) from None
    if not isinstance(js, dict) or not isinstance(js.get("nodes"), list) \
            or not isinstance(js.get("heads"), list):
        raise MXNetError("invalid symbol JSON: expected an object with 'nodes' and 'heads'")
    version = 800
    gattrs = js.get("attrs") or {}
    if "mxnet_version" in gattrs:
        try:
            version = int(gattrs["mxnet_version"][1])
        except (TypeError, ValueError, IndexError):
            raise MXNetError("invalid symbol JSON: bad mxnet_version %r"
                             % (gattrs["mxnet_version"],)) from None
    nodes = []
    for i, nj in enumerate(js["nodes"]):
        if not isinstance(nj, dict) or "op" not in nj or "name" not in nj:
            raise MXNetError("invalid symbol JSON: node %d lacks 'op' or 'name'" % i)
        op_name = nj["op"]
        attrs = _legacy_attrs(nj, op_name == "null")
        if op_name == "null":
            nodes.append(Node(None, nj["name"], attrs))
            continue
        if op_name not in _ops.REGISTRY and op_name not in _ops.FUNCTIONS:
            raise MXNetError("Failed loading Op %s of type %s: mxc has no operator %s"
                             % (nj["name"], op_name, op_name))
        op = _ops.FUNCTIONS[op_name]
        # a pre-nnvm `weight_lr_mult` style key moves to that input variable later
        node = Node(op, nj["name"], attrs)
        inputs = []
        for e in nj.get("inputs", []):
            if not isinstance(e, list) or len(e) < 2 or not 0 <= int(e[0]) < i:
                raise MXNetError("invalid symbol JSON: node '%s' has a bad input entry %r"
                                 % (nj["name"], e))
            inputs.append((nodes[int(e[0])], int(e[1])))
        node.inputs = inputs
        try:
            node.params
        except MXNetError as err:
            raise MXNetError("invalid symbol JSON: %s" % err) from None
        n_expected = len(node.input_names()) + len(node.aux_names())
        if op.variable_inputs:
            n_expected = len(inputs)
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
        nodes.append(node)
    heads = []
    for e in js["heads"]:
        if not isinstance(e, list) or len(e) < 2 or not 0 <= int(e[0]) < len(nodes):
            raise MXNetError("invalid symbol JSON: bad head entry %r" % (e,))
        node = nodes[int(e[0])]
        if int(e[1]) >= node.num_outputs():
            raise MXNetError("invalid symbol JSON: head %r refers to a missing output" % (e,))
        heads.append((node, int(e[1])))
    return heads
