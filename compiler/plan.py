"""From a shape-inferred graph to a compiled-graph plan: which buffers exist, where they live in
one arena, which gradients are needed, and the kernel calls of forward and backward.

The arena (one array of `real`) holds, in order: a 64-byte header (the random generator's
state), parameters, parameter gradients, auxiliary states, bound inputs, head gradients, and
every intermediate buffer. All offsets are in elements of `real` and 64-byte aligned.
"""
from math import prod

from .cnames import IDENT_MAX, c_comment, c_ident
from .errors import MXNetError
from .shape import infer_graph_shapes
from .symbol import aux_variables, topo_order

ALIGN_BYTES = 64
METRICS = {"none": 0, "acc": 1, "mse": 2}     # metric ids of the C entry points
DTYPES = {"float32": ("float", 4), "float64": ("double", 8)}


class Tensor:
    """A named region of the arena."""

    def __init__(self, name, shape, offset, ident=None):
        self.name, self.shape, self.offset = name, tuple(shape), offset
        self.ident = ident or c_ident(name)      # the C spelling of the name (macros)

    @property
    def size(self):
        return prod(self.shape) if self.shape else 1

    def expr(self):
        return "mem + %d" % self.offset

    def __repr__(self):
        return "Tensor(%s, %s, @%d)" % (self.name, self.shape, self.offset)


class Arg:
    """A graph argument: data, label, param (or state) with its value and gradient buffers."""

    def __init__(self, name, role, value, grad=None, req="null", attrs=None):
        self.name, self.role, self.value, self.grad, self.req = name, role, value, grad, req
        self.attrs = attrs or {}
        self.grad_edges = []      # per-consumer gradient buffers when they must be summed


class NodeView:
    """What a kernel template sees of one operator node (`n` in the templates)."""

    def __init__(self, node, cname):
        self.node = node
        self.name = cname                    # C identifier
        self.label = node.name               # the graph name
        self.op = node.op.name
        self.p = node.params
        self.slots_in = node.input_names()
        self.slots_aux = node.aux_names()
        self.slots_out = node.op.output_names(node.params)
        self.shape, self.size = {}, {}
        self.need_grad = {}
        self.ws = 0
        self.uses_rng = node.op.uses_rng
        self.is_loss = node.op.loss
        self.fwd_args, self.bwd_args = [], []     # (C type, name, expression)
        self.needs_backward = False
        self.out_grad_needed = {}
        self.fused_act = None                # FullyConnected: the Activation fused into it
        self.fused_into = None               # Activation: the FullyConnected computing it
        self.forward_name = self.name + "_forward"

    def dim(self, slot, i):
        return self.shape[slot][i]

    def describe(self):
        """One comment line: the node's name (escaped), its typed parameters and shapes."""
        ins = ", ".join("%s%s" % (s, self.shape[s]) for s in self.slots_in + self.slots_aux)
        outs = ", ".join("%s%s" % (s, self.shape[s]) for s in self.slots_out)
        params = ", ".join("%s=%s" % (k, v) for k, v in sorted(self.p.items()))
        return c_comment("%s: %s(%s)  %s -> %s" % (self.label, self.op, params, ins, outs))


class Plan:
    """Everything codegen and the runtime need to know about one compiled graph."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.ctype, self.itemsize = DTYPES[dtype]
        self.size = ALIGN_BYTES // self.itemsize      # header: generator state
        self.args, self.aux, self.outputs, self.nodes = [], [], [], []
        self.internals = {}                           # output name -> Tensor
        self.zero_fill, self.sums = [], []            # backward prologue / edge sums
        self.param_begin = self.param_end = 0
        self.workspace = None
        self.regions = {}
        self.fused = []                               # (FullyConnected, Activation) labels
        self._idents = set()                          # tensor identifiers, upper-cased

    def alloc(self, name, shape):
        align = ALIGN_BYTES // self.itemsize
        self.size = (self.size + align - 1) // align * align
        t = Tensor(name, shape, self.size, self.tensor_ident(name))
        self.size += max(t.size, 1)
        return t

    def tensor_ident(self, name):
        """A C identifier for a tensor, unique in the plan even when upper-cased (macros)."""
        ident = c_ident(name)
        cand, k = ident, 1
        while cand.upper() in self._idents:
            suffix = "_%d" % k                 # c_ident caps the length: keep the suffix
            cand = c_ident(ident[:IDENT_MAX - len(suffix)] + suffix)
            k += 1
        self._idents.add(cand.upper())
        return cand

    @property
    def params(self):
        return [a for a in self.args if a.role == "param"]

    def arg(self, name):
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)

    def state_slices(self, n_states):
        """Where each parameter's n_states optimizer buffers sit in a state array: parameter
        p owns n_states consecutive blocks of its size at n_states * (its offset - begin)."""
        out = {}
        for a in self.params:
            rel = a.value.offset - self.param_begin
            out[a.name] = [slice(n_states * rel + k * a.value.size,
                                 n_states * rel + (k + 1) * a.value.size)
                           for k in range(n_states)]
        return out

    def summary(self):
        mib = lambda n: n * self.itemsize / 2.0 ** 20  # noqa: E731
        return ", ".join("%s %.2f MiB" % (k, mib(v)) for k, v in self.regions.items())


def make_plan(symbol, input_shapes, data_names=(), label_names=(), grad_req=None,
              dtype="float32", for_training=True, fuse=True):
    """Shape-infer `symbol` for the given input shapes and lay out its compiled form.

    grad_req: {argument name: 'write' | 'add' | 'null'}; missing params default to 'write'
    (when for_training), data/labels to 'null'. fuse=False keeps every node a kernel of its
    own (each internal output is then materialised, e.g. for a Monitor).
    """
    if dtype not in DTYPES:
        raise MXNetError("unsupported dtype %r (supported: %s)" % (dtype, ", ".join(DTYPES)))
    heads = symbol._heads
    order = topo_order(heads)
    arg_names = symbol.list_arguments()
    for name in list(data_names) + list(label_names):
        if name not in arg_names:
            raise MXNetError("'%s' is not an argument of the symbol (arguments: %s)"
                             % (name, ", ".join(arg_names)))
    for name, shp in input_shapes.items():
        if name not in arg_names:
            raise MXNetError("shape given for '%s', which is not an argument of the symbol"
                             % name)
        if any(int(d) <= 0 for d in shp):
            raise MXNetError("shape of '%s' must be positive, got %s" % (name, tuple(shp)))
    shapes = infer_graph_shapes(heads, input_shapes)
    missing = [n.name for n in order if n.is_variable and not shapes.get((id(n), 0))]
    if missing:
        raise MXNetError("cannot infer the shapes of %s from the given input shapes %s"
                         % (", ".join(missing), input_shapes))
    for n in order:
        if n.op is not None and n.op.template is None:
            raise MXNetError("operator %s (node '%s') has no C template yet: it can be "
                             "described but not compiled" % (n.op.name, n.name))
        for i in range(n.num_outputs()):
            if not shapes.get((id(n), i)):
                raise MXNetError("cannot infer the shape of output %d of node '%s' (%s)"
                                 % (i, n.name, n.op.name))

    plan = Plan(dtype)
    grad_req = dict(grad_req or {})
    aux_ids = aux_variables(order)
    var_nodes = [n for n in order if n.is_variable]
    roles = {}
    for n in var_nodes:
        if id(n) in aux_ids:
            roles[id(n)] = "aux"
        elif n.name in data_names:
            roles[id(n)] = "data"
        elif n.name in label_names:
            roles[id(n)] = "label"
        else:
            roles[id(n)] = "param"
    names_seen = {}
    for n in var_nodes:
        if n.name in names_seen:
            raise MXNetError("two different variables are named '%s'" % n.name)
        names_seen[n.name] = n

    def req_of(n):
        role = roles[id(n)]
        default = "write" if (for_training and role == "param") else "null"
        req = grad_req.get(n.name, default) if for_training else "null"
        if req not in ("write", "add", "null"):
            raise MXNetError("grad_req for '%s' must be write, add or null, got %r"
                             % (n.name, req))
        return req

    # parameters first (one contiguous region), then their gradients
    value_of, arg_of = {}, {}
    plan.param_begin = plan.size
    for n in var_nodes:
        if roles[id(n)] == "param":
            a = Arg(n.name, "param", plan.alloc(n.name, shapes[(id(n), 0)]), req=req_of(n),
                    attrs=dict(n.attrs))
            arg_of[id(n)] = a
    plan.param_end = plan.size
    for n in var_nodes:
        a = arg_of.get(id(n))
        if a is not None and a.req != "null":
            a.grad = plan.alloc(n.name + "_grad", a.value.shape)
    grads_end = plan.size
    for n in var_nodes:
        if roles[id(n)] == "aux":
            plan.aux.append(Arg(n.name, "aux", plan.alloc(n.name, shapes[(id(n), 0)]),
                                attrs=dict(n.attrs)))
            value_of[(id(n), 0)] = plan.aux[-1].value
    aux_end = plan.size
    for n in var_nodes:
        if roles[id(n)] in ("data", "label"):
            a = Arg(n.name, roles[id(n)], plan.alloc(n.name, shapes[(id(n), 0)]),
                    req=req_of(n), attrs=dict(n.attrs))
            if a.req != "null":
                a.grad = plan.alloc(n.name + "_grad", a.value.shape)
            arg_of[id(n)] = a
    for n in var_nodes:
        if id(n) in arg_of:
            value_of[(id(n), 0)] = arg_of[id(n)].value
    # argument order = list_arguments order
    plan.args = [arg_of[id(n)] for n in var_nodes if id(n) in arg_of]
    inputs_end = plan.size

    # which tensors need gradients: reachable from an argument with grad_req != null
    needs = set()
    for n in var_nodes:
        a = arg_of.get(id(n))
        if a is not None and a.req != "null":
            needs.add((id(n), 0))
    cnames = set()
    views = []
    for n in order:
        if n.is_variable:
            continue
        v = NodeView(n, c_ident(n.name, cnames, fallback="node"))
        slots = v.slots_in + v.slots_aux
        for slot, (c, i) in zip(slots, n.inputs):
            v.shape[slot] = shapes[(id(c), i)]
        for i, slot in enumerate(v.slots_out):
            v.shape[slot] = shapes[(id(n), i)]
        v.size = {k: prod(s) for k, s in v.shape.items()}
        for slot, (c, i) in zip(v.slots_in, n.inputs):
            v.need_grad[slot] = ((id(c), i) in needs and n.op.differentiable
                                 and slot not in n.op.no_grad_inputs)
        if any(v.need_grad.values()):
            for i in range(n.num_outputs()):
                needs.add((id(n), i))
            v.needs_backward = True
        if n.op.workspace is not None:
            v.ws = int(n.op.workspace(n.params, [v.shape[s] for s in slots],
                                      [v.shape[s] for s in v.slots_out]))
        views.append(v)

    # FullyConnected followed only by a relu: one kernel with the relu in the GEMM epilogue
    fused = _fuse_fc_relu(views, heads) if fuse else {}
    plan.fused = [(fc.label, act.label) for fc, act in fused.items()]

    # outputs of every node (a fused FullyConnected writes straight into its relu's output);
    # inference plans let buffers whose readers all ran share space with later ones
    if for_training:
        for v in views:
            if v.fused_act is not None:
                continue
            for i, slot in enumerate(v.slots_out):
                t = plan.alloc("%s_%s" % (v.name, slot), v.shape[slot])
                value_of[(id(v.node), i)] = t
                if i < v.node.num_visible():
                    plan.internals[v.node.output_name(i)] = t
    else:
        _alloc_reusing(plan, views, heads, value_of)
    for fc, act in fused.items():
        value_of[(id(fc.node), 0)] = value_of[(id(act.node), 0)]
    for n in var_nodes:
        plan.internals[n.name] = value_of[(id(n), 0)]

    # head gradients for outputs that are not losses
    for n, i in heads:
        name = n.output_name(i)
        head_grad = None
        if n.op is not None and not n.op.loss and (id(n), i) in needs:
            head_grad = plan.alloc(name + "_head_grad", shapes[(id(n), i)])
        plan.outputs.append(Arg(name, "output", value_of[(id(n), i)], head_grad))

    # gradient buffers: one per (consumer, slot) edge unless a single writer can go direct
    edges = {}
    for v in views:
        for slot, (c, i) in zip(v.slots_in, v.node.inputs):
            if v.need_grad.get(slot):
                edges.setdefault((id(c), i), []).append((v, slot))
    grad_of = {}
    head_grads = {}
    for (n, i), out in zip(heads, plan.outputs):
        if out.grad is not None:
            head_grads.setdefault((id(n), i), []).append(out.grad)
    node_by_id = {id(n): n for n in order}
    for key in list(edges) + [k for k in head_grads if k not in edges]:
        es, hs = edges.get(key, []), head_grads.get(key, [])
        node = node_by_id[key[0]]
        a = arg_of.get(key[0])
        shape = shapes[key]
        if a is not None:
            if a.req == "write" and len(es) == 1 and not hs:
                es[0][0].bwd_grad = getattr(es[0][0], "bwd_grad", {})
                es[0][0].bwd_grad[es[0][1]] = a.grad
                continue
            parts = []
            for v, slot in es:
                t = plan.alloc("%s_%s_grad_part" % (v.name, slot), shape)
                v.bwd_grad = getattr(v, "bwd_grad", {})
                v.bwd_grad[slot] = t
                parts.append(t)
            plan.sums.append((a.grad, parts, a.req == "add", node))
            continue
        if len(es) == 1 and not hs:
            t = plan.alloc("%s_grad" % node.output_name(key[1]), shape)
            es[0][0].bwd_grad = getattr(es[0][0], "bwd_grad", {})
            es[0][0].bwd_grad[es[0][1]] = t
            grad_of[key] = t
        elif not es and len(hs) == 1:
            grad_of[key] = hs[0]
        else:
            total = plan.alloc("%s_grad" % node.output_name(key[1]), shape)
            parts = list(hs)
            for v, slot in es:
                t = plan.alloc("%s_%s_grad_part" % (v.name, slot), shape)
                v.bwd_grad = getattr(v, "bwd_grad", {})
                v.bwd_grad[slot] = t
                parts.append(t)
            plan.sums.append((total, parts, False, node))
            grad_of[key] = total

    # gradients of arguments that no kernel writes are zero
    for a in plan.args:
        if a.grad is not None and a.req == "write" and not any(
                a.grad is t for t in _direct_targets(views)) and not any(
                s[0] is a.grad for s in plan.sums):
            plan.zero_fill.append(a.grad)

    # outputs of nodes that run backward but whose gradient nobody provides: zeros
    for v in views:
        if not v.needs_backward or v.is_loss:
            continue
        for i, slot in enumerate(v.slots_out):
            key = (id(v.node), i)
            if key not in grad_of:
                t = plan.alloc("%s_%s_grad_zero" % (v.name, slot), v.shape[slot])
                plan.zero_fill.append(t)
                grad_of[key] = t

    ws = max([v.ws for v in views] + [0])
    plan.workspace = plan.alloc("workspace", (ws,)) if ws else None

    # kernel argument lists (names match the template's pointer names)
    for v in views:
        n = v.node
        n_in = len(v.slots_in)
        for slot, (c, i) in zip(v.slots_in, n.inputs[:n_in]):
            v.fwd_args.append(("const real*", slot, value_of[(id(c), i)].expr()))
        for slot, (c, i) in zip(v.slots_aux, n.inputs[n_in:]):
            v.fwd_args.append(("real*", slot, value_of[(id(c), i)].expr()))
        for i, slot in enumerate(v.slots_out):
            v.fwd_args.append(("real*", slot, value_of[(id(n), i)].expr()))
        if not v.needs_backward:
            continue
        for slot, (c, i) in zip(v.slots_in, n.inputs[:n_in]):
            v.bwd_args.append(("const real*", slot, value_of[(id(c), i)].expr()))
        for slot, (c, i) in zip(v.slots_aux, n.inputs[n_in:]):
            v.bwd_args.append(("real*", slot, value_of[(id(c), i)].expr()))
        for i, slot in enumerate(v.slots_out):
            v.bwd_args.append(("const real*", slot, value_of[(id(n), i)].expr()))
        for i, slot in enumerate(v.slots_out):
            g = grad_of.get((id(n), i))
            v.bwd_args.append(("const real*", slot + "_grad", g.expr() if g else "NULL"))
        bwd_grad = getattr(v, "bwd_grad", {})
        for slot in v.slots_in:
            t = bwd_grad.get(slot)
            v.bwd_args.append(("real*", slot + "_grad", t.expr() if t else "NULL"))
    plan.nodes = views
    plan.regions = {
        "params": plan.param_end - plan.param_begin,
        "grads": grads_end - plan.param_end,
        "aux": aux_end - grads_end,
        "activations": plan.size - inputs_end,
    }
    return plan


def _alloc_reusing(plan, views, heads, value_of):
    """Node outputs in execution order, each placed at the lowest arena gap not held by a
    buffer that is still to be read; a buffer is released after its last reader ran (requested
    outputs never are). Outputs that a later buffer overwrites are left out of plan.internals."""
    align = ALIGN_BYTES // plan.itemsize
    base = (plan.size + align - 1) // align * align
    order = [v for v in views if v.fused_into is None]
    step = {id(v): k for k, v in enumerate(order)}
    last_read = {}
    for v in views:
        runs_at = step[id(v.fused_into if v.fused_into is not None else v)]
        for c, i in v.node.inputs:
            key = (id(c), i)
            last_read[key] = max(last_read.get(key, -1), runs_at)
    keep = {(id(n), i) for n, i in heads}
    live, placed = [], []          # [start, end, key]; placed: (start, end, key, view, slot)
    end_all = base
    for k, v in enumerate(order):
        writers = [v] if v.fused_act is None else [v.fused_act]
        for u in writers:
            for i, slot in enumerate(u.slots_out):
                key = (id(u.node), i)
                size = max(prod(u.shape[slot]) if u.shape[slot] else 1, 1)
                cursor = base
                for start, end, _ in sorted(live):
                    if start - cursor >= size:
                        break
                    cursor = max(cursor, (end + align - 1) // align * align)
                t = Tensor("%s_%s" % (u.name, slot), u.shape[slot], cursor,
                           plan.tensor_ident("%s_%s" % (u.name, slot)))
                live.append([cursor, cursor + size, key])
                placed.append((cursor, cursor + size, key, u, i))
                end_all = max(end_all, cursor + size)
                value_of[key] = t
        for item in list(live):
            if item[2] not in keep and last_read.get(item[2], -1) <= k:
                live.remove(item)
    for j, (s0, e0, key, u, i) in enumerate(placed):
        overwritten = any(s0 < e1 and e0 > s1 for s1, e1, _, _, _ in placed[j + 1:])
        if not overwritten and i < u.node.num_visible():
            plan.internals[u.node.output_name(i)] = value_of[key]
    plan.size = end_all


def _fuse_fc_relu(views, heads):
    """{FullyConnected view: relu Activation view} for every FullyConnected whose output is
    read only by one relu Activation and is not a requested output (its value is then never
    materialised, so get_internals-style outputs keep the two kernels apart)."""
    readers = {}
    for v in views:
        for c, i in v.node.inputs:
            readers.setdefault((id(c), i), []).append(v)
    head_keys = {(id(n), i) for n, i in heads}
    fused = {}
    for v in views:
        if v.op != "FullyConnected" or v.node.num_outputs() != 1:
            continue
        key = (id(v.node), 0)
        users = readers.get(key, [])
        if key in head_keys or len(users) != 1:
            continue
        act = users[0]
        if act.op != "Activation" or act.p.get("act_type") != "relu" or act.fused_into:
            continue
        v.fused_act, act.fused_into = act, v
        v.forward_name = "fused_%s_%s_forward" % (v.name, act.name)
        fused[v] = act
    return fused


def _direct_targets(views):
    for v in views:
        for t in getattr(v, "bwd_grad", {}).values():
            yield t
