"""mx.viz: draw a network (graphviz, optional) and print a layer summary, as MXNet does."""
import copy
import json
import warnings

from .compiler.symbol import Symbol

_HIDDEN_SUFFIXES = ("_weight", "_bias", "_beta", "_gamma", "_moving_var", "_moving_mean",
                    "_running_var", "_running_mean")
_PALETTE = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3", "#fdb462", "#b3de69",
            "#fccde5")


def _str2tuple(text):
    return [int(t) for t in text.strip("()[] ").split(",") if t.strip()]


def _internal_shapes(symbol, shape):
    interals = symbol.get_internals()
    _, out_shapes, _ = interals.infer_shape(**shape)
    if out_shapes is None:
        raise ValueError("Input shape is incomplete")
    return dict(zip(interals.list_outputs(), out_shapes))


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Print a table of layers, output shapes, parameter counts and predecessors."""
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be Symbol")
    show_shape = shape is not None
    shape_dict = _internal_shapes(symbol, shape) if show_shape else {}
    conf = json.loads(symbol.tojson())
    nodes = conf["nodes"]
    heads = set(conf["heads"][0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    to_display = ["Layer (type)", "Output Shape", "Param #", "Previous Layer"]

    def print_row(fields, pos):
        line = ""
        for i, field in enumerate(fields):
            line += str(field)
            line = line[:pos[i]]
            line += " " * (pos[i] - len(line))
        print(line)

    print("_" * line_length)
    print_row(to_display, positions)
    print("=" * line_length)

    def count_params(node, out_shape):
        cur_param = 0
        op = node["op"]
        pre_node, pre_filter = [], 0
        if op != "null":
            for item in node["inputs"]:
                input_node = nodes[item[0]]
                input_name = input_node["name"]
                if input_node["op"] != "null" or item[0] in heads:
                    pre_node.append(input_name)
                    if show_shape:
                        key = input_name if input_node["op"] == "null" else input_name + "_output"
                        if key in shape_dict:
                            shp = shape_dict[key][1:]
                            pre_filter = pre_filter + int(shp[0]) if shp else pre_filter
        attrs = node.get("attrs", {})
        if op == "Convolution":
            num_group = int(attrs.get("num_group", "1"))
            cur_param = pre_filter * int(attrs["num_filter"]) // num_group
            for k in _str2tuple(attrs["kernel"]):
                cur_param *= k
            if attrs.get("no_bias", "False") not in ("True", "true", "1"):
                cur_param += int(attrs["num_filter"])
        elif op == "FullyConnected":
            no_bias = attrs.get("no_bias", "False") in ("True", "true", "1")
            cur_param = pre_filter * int(attrs["num_hidden"])
            if not no_bias:
                cur_param += int(attrs["num_hidden"])
        elif op == "BatchNorm":
            key = node["name"] + "_output"
            if show_shape and key in shape_dict:
                cur_param = int(shape_dict[key][1]) * 2
        elif op == "Embedding":
            cur_param = int(attrs["input_dim"]) * int(attrs["output_dim"])
        first = pre_node[0] if pre_node else ""
        print_row(["%s(%s)" % (node["name"], op), "x".join(str(x) for x in out_shape),
                   cur_param, first], positions)
        for p in pre_node[1:]:
            print_row(["", "", "", p], positions)
        return cur_param

    total_params = 0
    for i, node in enumerate(nodes):
        out_shape = []
        op = node["op"]
        if op == "null" and i > 0:
            continue
        if op != "null" or i in heads:
            if show_shape:
                key = node["name"] if op == "null" else node["name"] + "_output"
                if key in shape_dict:
                    out_shape = shape_dict[key][1:]
        total_params += count_params(node, out_shape)
        print("=" * line_length if i == len(nodes) - 1 else "_" * line_length)
    print("Total params: %s" % total_params)
    print("_" * line_length)


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None,
                 node_attrs=None, hide_weights=True):
    """A graphviz.Digraph of the network (needs the optional `graphviz` package)."""
    try:
        from graphviz import Digraph
    except ImportError:
        raise ImportError("Draw network requires graphviz library (pip install graphviz, "
                          "or `pip install mxc[viz]`)") from None
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be a Symbol")
    draw_shape = shape is not None
    draw_type = dtype is not None
    shape_dict = _internal_shapes(symbol, shape) if draw_shape else {}
    type_dict = {}
    if draw_type:
        internals = symbol.get_internals()
        _, out_types, _ = internals.infer_type(**dtype)
        type_dict = dict(zip(internals.list_outputs(), out_types))
    conf = json.loads(symbol.tojson())
    nodes = conf["nodes"]
    names = [n["name"] for n in nodes]
    if len(set(names)) != len(names):
        warnings.warn("There are multiple variables with the same name in your graph, this "
                      "may result in cyclic graph. Repeated names: " +
                      ",".join(sorted({n for n in names if names.count(n) > 1})),
                      RuntimeWarning)
    node_attr = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034",
                 "style": "filled"}
    node_attr.update(node_attrs or {})
    dot = Digraph(name=title, format=save_format)
    hidden_nodes = set()
    for node in nodes:
        op, name = node["op"], node["name"]
        attr = copy.deepcopy(node_attr)
        label = name
        attrs = node.get("attrs", {})
        if op == "null":
            if name.endswith(_HIDDEN_SUFFIXES):
                if hide_weights:
                    hidden_nodes.add(name)
                continue
            attr["shape"] = "oval"
            attr["fillcolor"] = _PALETTE[0]
        elif op == "Convolution":
            stride = _str2tuple(attrs["stride"]) if "stride" in attrs else [1]
            label = "Convolution\n%s/%s, %s" % ("x".join(map(str, _str2tuple(attrs["kernel"]))),
                                                "x".join(map(str, stride)), attrs["num_filter"])
            attr["fillcolor"] = _PALETTE[1]
        elif op == "FullyConnected":
            label = "FullyConnected\n%s" % attrs["num_hidden"]
            attr["fillcolor"] = _PALETTE[1]
        elif op == "BatchNorm":
            attr["fillcolor"] = _PALETTE[3]
        elif op == "Activation":
            label = "Activation\n%s" % attrs["act_type"]
            attr["fillcolor"] = _PALETTE[2]
        elif op == "LeakyReLU":
            label = "LeakyReLU\n%s" % attrs.get("act_type", "Leaky")
            attr["fillcolor"] = _PALETTE[2]
        elif op == "Pooling":
            kernel = "x".join(map(str, _str2tuple(attrs["kernel"]))) if "kernel" in attrs \
                else "[]"
            stride = "x".join(map(str, _str2tuple(attrs["stride"]))) if "stride" in attrs \
                else "1"
            label = "Pooling\n%s, %s/%s" % (attrs.get("pool_type", "max"), kernel, stride)
            attr["fillcolor"] = _PALETTE[4]
        elif op in ("Concat", "Flatten", "Reshape"):
            attr["fillcolor"] = _PALETTE[5]
        elif op == "Softmax":
            attr["fillcolor"] = _PALETTE[6]
        else:
            attr["fillcolor"] = _PALETTE[7]
            if op == "Custom":
                label = attrs.get("op_type", name)
        dot.node(name=name, label=label, **attr)
    for node in nodes:
        op, name = node["op"], node["name"]
        if op == "null":
            continue
        for item in node["inputs"]:
            input_node = nodes[item[0]]
            input_name = input_node["name"]
            if input_name in hidden_nodes:
                continue
            attr = {"dir": "back", "arrowtail": "open", "label": ""}
            if draw_shape or draw_type:
                key = input_name
                if input_node["op"] != "null":
                    key += "_output"
                    if "num_outputs" in input_node.get("attrs", {}):
                        key = "%s_output%d" % (input_name,
                                               int(input_node["attrs"]["num_outputs"]) - 1)
                if draw_shape and key in shape_dict:
                    attr["label"] = "x".join(str(x) for x in shape_dict[key][1:])
                if draw_type and key in type_dict:
                    attr["label"] += "(%s)" % type_dict[key].__name__
            dot.edge(tail_name=name, head_name=input_name, **attr)
    return dot
