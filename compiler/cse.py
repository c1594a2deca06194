"""Common subexpression elimination, as MXNet's executor does it (MXNET_ELIMINATE_COMMON_EXPR,
on by default): two operator nodes with the same operator, the same attributes and the same
inputs compute the same values, so the later one (in depth-first order) is replaced by the
earlier. Nodes that draw random numbers, mutate inputs (auxiliary states) or keep state of
their own (Custom) are never merged. Heads that end up as the same entry get a `_copy` node
each after the first, named `<node>_<k>_copy`, so every output stays a tensor of its own.
The caller's graph is left as it is: merged graphs are made of new nodes.
"""
from .graph import Node, topo_order
from . import ops


def _mergeable(node):
    op = node.op
    return not (op is None or op.uses_rng or node.aux_names() or op.name == "Custom")


def eliminate_common_expr(heads):
    """New heads [(Node, index)] with common subexpressions merged; `heads` when none is."""
    canonical, seen, merged = {}, {}, False
    for node in topo_order(heads):
        if node.is_variable:
            canonical[id(node)] = node
            continue
        inputs = [(canonical[id(c)], i) for c, i in node.inputs]
        key = (node.op.name, tuple(sorted(node.attrs.items())),
               tuple((id(c), i) for c, i in inputs))
        mergeable = _mergeable(node)
        if mergeable and key in seen:
            canonical[id(node)] = seen[key]
            merged = True
            continue
        copy = Node(node.op, node.name, dict(node.attrs), inputs)
        canonical[id(node)] = copy
        if mergeable:
            seen[key] = copy
    if not merged:
        return list(heads)
    out, copies = [], {}
    for node, i in heads:
        entry = (canonical[id(node)], i)
        k = copies.get((id(entry[0]), i))
        if k is None:
            copies[(id(entry[0]), i)] = 0
            out.append(entry)
            continue
        copies[(id(entry[0]), i)] = k + 1
        out.append((Node(ops.get("_copy"), "%s_%d_copy" % (entry[0].name, k), {}, [entry]), 0))
    return out
