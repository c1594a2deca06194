"""From a shape-inferred graph to a compiled-graph plan: which buffers exist, where they live in
one arena, which gradients are needed, and the kernel calls of forward and backward.

`make_plan` runs a sequence of passes, each with one job: check the inputs, infer shapes, give
variables their roles, lay out the arguments, mark what needs a gradient, fuse (a table of
producer/consumer rules), place node outputs (reusing space in inference plans), add head
gradients, gradient buffers, zero fills and the workspace, and write the kernel argument lists.

The arena (one array of `real`) holds, in order: a 64-byte header (the random generator's
state), parameters, parameter gradients, auxiliary states, bound inputs, head gradients, and
every intermediate buffer. All offsets are in elements of `real` and 64-byte aligned.
"""
from math import prod

from .cnames import IDENT_MAX, c_comment, c_ident
from .errors import MXNetError
from .graph import aux_variables, topo_order
from .shape import infer_graph_shapes

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
        self.bwd_grad = {}                   # input slot -> the buffer its backward writes
        self.fused_act = None                # producer: the consumer fused into its kernel
        self.fused_into = None               # consumer: the producer whose kernel computes it
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
        self.backward_internals = {}                  # backward output -> (Tensor|None, shape)
        self.zero_fill, self.sums = [], []            # backward prologue / edge sums
        self.param_begin = self.param_end = 0
        self.workspace = None
        self.regions = {}
        self.fused = []                               # (producer, consumer) labels
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


# ---- the pipeline -----------------------------------------------------------------------------

def make_plan(symbol, input_shapes, data_names=(), label_names=(), grad_req=None,
              dtype="float32", for_training=True, fuse=True):
    """Shape-infer `symbol` for the given input shapes and lay out its compiled form.

    grad_req: {argument name: 'write' | 'add' | 'null'}; missing params default to 'write'
    (when for_training), data/labels to 'null'. fuse=False keeps every node a kernel of its
    own (each internal output is then materialised, e.g. for a Monitor).
    """
    check_dtype(dtype)
    heads = symbol._heads
    order = topo_order(heads)
    check_inputs(symbol.list_arguments(), input_shapes, data_names, label_names)
    shapes = infer_shapes(order, heads, input_shapes)
    variables = [n for n in order if n.is_variable]
    roles = assign_roles(order, data_names, label_names)
    reqs = gradient_requests(variables, roles, grad_req, for_training)

    plan = Plan(dtype)
    arg_of, value_of = layout_arguments(plan, variables, roles, reqs, shapes)
    inputs_end = plan.size
    views = node_views(order, shapes)
    needs = mark_gradients(views, {(id(n), 0) for n in variables if reqs[id(n)] != "null"})
    fused = fuse_nodes(views, heads) if fuse else []
    plan.fused = [(producer.label, consumer.label) for _, producer, consumer in fused]
    if for_training:
        allocate_outputs(plan, views, value_of)
    else:
        allocate_reusing(plan, views, heads, value_of)
    for _, producer, consumer in fused:        # the producer's output is never materialised
        value_of[(id(producer.node), 0)] = value_of[(id(consumer.node), 0)]
    for n in variables:
        plan.internals[n.name] = value_of[(id(n), 0)]
    head_outputs(plan, heads, shapes, needs, value_of)
    grad_of = gradient_buffers(plan, views, heads, arg_of, shapes)
    zero_unwritten_gradients(plan, views)
    zero_missing_output_grads(plan, views, grad_of)
    add_workspace(plan, views)
    for v in views:
        kernel_args(v, value_of, grad_of)
    plan.backward_internals = backward_outputs(views)
    plan.nodes = views
    plan.regions["activations"] = plan.size - inputs_end
    return plan


# ---- checks and shapes ------------------------------------------------------------------------

def check_dtype(dtype):
    if dtype not in DTYPES:
        raise MXNetError("unsupported dtype %r (supported: %s)" % (dtype, ", ".join(DTYPES)))


def check_inputs(arg_names, input_shapes, data_names, label_names):
    """Data and label names must be arguments; given shapes must name arguments and be
    positive."""
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


def infer_shapes(order, heads, input_shapes):
    """{(id(node), output index): shape} with every variable and output known, and every
    operator compilable (it has a C template)."""
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
    return shapes


# ---- arguments --------------------------------------------------------------------------------

def assign_roles(order, data_names, label_names):
    """{id(variable): 'aux' | 'data' | 'label' | 'param'}; two variables may not share a name."""
    aux_ids = aux_variables(order)
    roles, seen = {}, set()
    for n in order:
        if not n.is_variable:
            continue
        if n.name in seen:
            raise MXNetError("two different variables are named '%s'" % n.name)
        seen.add(n.name)
        if id(n) in aux_ids:
            roles[id(n)] = "aux"
        elif n.name in data_names:
            roles[id(n)] = "data"
        elif n.name in label_names:
            roles[id(n)] = "label"
        else:
            roles[id(n)] = "param"
    return roles


def gradient_requests(variables, roles, grad_req, for_training):
    """{id(variable): 'write' | 'add' | 'null'}: parameters default to 'write' in training,
    everything else to 'null'; inference plans need no gradient at all."""
    grad_req = dict(grad_req or {})
    reqs = {}
    for n in variables:
        if roles[id(n)] == "aux" or not for_training:
            reqs[id(n)] = "null"
            continue
        req = grad_req.get(n.name, "write" if roles[id(n)] == "param" else "null")
        if req not in ("write", "add", "null"):
            raise MXNetError("grad_req for '%s' must be write, add or null, got %r"
                             % (n.name, req))
        reqs[id(n)] = req
    return reqs


def layout_arguments(plan, variables, roles, reqs, shapes):
    """Parameters (one contiguous region), their gradients, aux states, then bound inputs each
    followed by its gradient. Sets plan.args (list_arguments order), plan.aux, the parameter
    bounds and the first regions; returns ({id(variable): Arg}, {(id(variable), 0): Tensor})."""
    def arg(n):
        role = roles[id(n)]
        return Arg(n.name, role, plan.alloc(n.name, shapes[(id(n), 0)]), req=reqs[id(n)],
                   attrs=dict(n.attrs))

    def with_role(*wanted):
        return [n for n in variables if roles[id(n)] in wanted]

    arg_of = {}
    plan.param_begin = plan.size
    for n in with_role("param"):
        arg_of[id(n)] = arg(n)
    plan.param_end = plan.size
    for a in list(arg_of.values()):
        if a.req != "null":
            a.grad = plan.alloc(a.name + "_grad", a.value.shape)
    grads_end = plan.size
    plan.aux = [arg(n) for n in with_role("aux")]
    aux_end = plan.size
    for n in with_role("data", "label"):
        a = arg_of[id(n)] = arg(n)
        if a.req != "null":
            a.grad = plan.alloc(a.name + "_grad", a.value.shape)
    plan.args = [arg_of[id(n)] for n in variables if id(n) in arg_of]
    plan.regions = {"params": plan.param_end - plan.param_begin,
                    "grads": grads_end - plan.param_end, "aux": aux_end - grads_end}
    value_of = {(id(n), 0): a.value for n, a in zip(with_role("aux"), plan.aux)}
    value_of.update({(k, 0): a.value for k, a in arg_of.items()})
    return arg_of, value_of


# ---- nodes and gradients ----------------------------------------------------------------------

def node_views(order, shapes):
    """One NodeView per operator node, in execution order: C name, shapes, workspace size."""
    cnames, views = set(), []
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
        if n.op.workspace is not None:
            v.ws = int(n.op.workspace(n.params, [v.shape[s] for s in slots],
                                      [v.shape[s] for s in v.slots_out]))
        views.append(v)
    return views


def mark_gradients(views, seeds):
    """The tensors (id(node), output index) that need a gradient: the seeds (arguments with a
    gradient request) and every output of a node with a differentiable input that needs one.
    Sets each view's need_grad per input slot and needs_backward."""
    needs = set(seeds)
    for v in views:
        n = v.node
        for slot, (c, i) in zip(v.slots_in, n.inputs):
            v.need_grad[slot] = ((id(c), i) in needs and n.op.differentiable
                                 and slot not in n.op.no_grad_inputs)
        if any(v.need_grad.values()):
            needs.update((id(n), i) for i in range(n.num_outputs()))
            v.needs_backward = True
    return needs


# ---- fusion -----------------------------------------------------------------------------------

def _is_relu(v):
    return v.p.get("act_type") == "relu"


# (producer op, producer predicate, consumer op, consumer predicate, rule name): the consumer
# runs inside the producer's forward kernel (its write applies the consumer), so the
# producer's output is never materialised. Backward keeps both kernels.
FUSION_RULES = [
    ("FullyConnected", lambda v: True, "Activation", _is_relu, "fc_relu"),
]


def fuse_nodes(views, heads, rules=FUSION_RULES):
    """[(rule name, producer view, consumer view)] for every single-output producer whose
    output is not a requested output and is read by exactly one node, as that node's first
    input, when a rule matches the pair. Sets producer.fused_act, consumer.fused_into and the
    producer's forward_name (fused_<producer>_<consumer>_forward). A node takes part in one
    fusion at most."""
    readers = {}
    for v in views:
        for c, i in v.node.inputs:
            readers.setdefault((id(c), i), []).append(v)
    head_keys = {(id(n), i) for n, i in heads}
    fused = []
    for v in views:
        key = (id(v.node), 0)
        users = readers.get(key, [])
        if v.node.num_outputs() != 1 or key in head_keys or len(users) != 1:
            continue
        consumer = users[0]
        if v.fused_into is not None or consumer.fused_into is not None \
                or consumer.fused_act is not None or consumer.node.inputs[0] != (v.node, 0):
            continue
        for producer_op, producer_ok, consumer_op, consumer_ok, rule in rules:
            if v.op == producer_op and consumer.op == consumer_op and producer_ok(v) \
                    and consumer_ok(consumer):
                v.fused_act, consumer.fused_into = consumer, v
                v.forward_name = "fused_%s_%s_forward" % (v.name, consumer.name)
                fused.append((rule, v, consumer))
                break
    return fused


# ---- memory -----------------------------------------------------------------------------------

def allocate_outputs(plan, views, value_of):
    """Every node output its own buffer, in execution order (training plans: backward reads
    them all). A fused producer writes its consumer's output instead of its own."""
    for v in views:
        if v.fused_act is not None:
            continue
        for i, slot in enumerate(v.slots_out):
            t = plan.alloc("%s_%s" % (v.name, slot), v.shape[slot])
            value_of[(id(v.node), i)] = t
            if i < v.node.num_visible():
                plan.internals[v.node.output_name(i)] = t


def allocate_reusing(plan, views, heads, value_of):
    """Node outputs in execution order, each placed at the lowest arena gap not held by a
    buffer that is still to be read; a buffer is released after its last reader ran (requested
    outputs never are). Outputs that a later buffer overwrites are left out of plan.internals."""
    align = ALIGN_BYTES // plan.itemsize
    base = (plan.size + align - 1) // align * align
    steps = [v for v in views if v.fused_into is None]
    step = {id(v): k for k, v in enumerate(steps)}
    last_read = {}
    for v in views:
        runs_at = step[id(v.fused_into if v.fused_into is not None else v)]
        for c, i in v.node.inputs:
            key = (id(c), i)
            last_read[key] = max(last_read.get(key, -1), runs_at)
    keep = {(id(n), i) for n, i in heads}
    live, placed = [], []          # [start, end, key]; placed: (start, end, key, view, index)
    end_all = base
    for k, v in enumerate(steps):
        writer = v if v.fused_act is None else v.fused_act
        for i, slot in enumerate(writer.slots_out):
            key = (id(writer.node), i)
            size = max(prod(writer.shape[slot]) if writer.shape[slot] else 1, 1)
            start = _lowest_gap(live, base, size, align)
            name = "%s_%s" % (writer.name, slot)
            value_of[key] = Tensor(name, writer.shape[slot], start, plan.tensor_ident(name))
            live.append([start, start + size, key])
            placed.append((start, start + size, key, writer, i))
            end_all = max(end_all, start + size)
        live = [item for item in live if item[2] in keep or last_read.get(item[2], -1) > k]
    for j, (s0, e0, key, u, i) in enumerate(placed):
        overwritten = any(s0 < e1 and e0 > s1 for s1, e1, _, _, _ in placed[j + 1:])
        if not overwritten and i < u.node.num_visible():
            plan.internals[u.node.output_name(i)] = value_of[key]
    plan.size = end_all


def _lowest_gap(live, base, size, align):
    """The lowest aligned offset >= base where `size` elements overlap no live [start, end)."""
    cursor = base
    for start, end, _ in sorted(live):
        if start - cursor >= size:
            break
        cursor = max(cursor, (end + align - 1) // align * align)
    return cursor


# ---- gradients --------------------------------------------------------------------------------

def head_outputs(plan, heads, shapes, needs, value_of):
    """plan.outputs in head order; an output that is not a loss and needs a gradient gets a
    head-gradient buffer (the caller's out_grads)."""
    for n, i in heads:
        name = n.output_name(i)
        head_grad = None
        if n.op is not None and not n.op.loss and (id(n), i) in needs:
            head_grad = plan.alloc(name + "_head_grad", shapes[(id(n), i)])
        plan.outputs.append(Arg(name, "output", value_of[(id(n), i)], head_grad))


def gradient_buffers(plan, views, heads, arg_of, shapes):
    """Where each backward kernel writes its input gradients (view.bwd_grad) and the summing
    steps (plan.sums). A tensor read by one kernel gets its gradient written directly (into the
    argument's gradient for grad_req='write'); several readers (or head gradients) each write a
    part, summed into the total ('add' accumulates into the argument's gradient). Returns
    {(id(node), output index): gradient Tensor} of node outputs."""
    edges = {}
    for v in views:
        for slot, (c, i) in zip(v.slots_in, v.node.inputs):
            if v.need_grad.get(slot):
                edges.setdefault((id(c), i), []).append((v, slot))
    head_grads = {}
    for (n, i), out in zip(heads, plan.outputs):
        if out.grad is not None:
            head_grads.setdefault((id(n), i), []).append(out.grad)
    node_of = {id(n): n for n, _ in heads}
    node_of.update({id(c): c for v in views for c, _ in v.node.inputs})
    grad_of = {}

    def parts_for(es, shape):
        parts = []
        for v, slot in es:
            v.bwd_grad[slot] = plan.alloc("%s_%s_grad_part" % (v.name, slot), shape)
            parts.append(v.bwd_grad[slot])
        return parts

    for key in list(edges) + [k for k in head_grads if k not in edges]:
        es, hs = edges.get(key, []), head_grads.get(key, [])
        node, shape, a = node_of[key[0]], shapes[key], arg_of.get(key[0])
        if a is not None:
            if a.req == "write" and len(es) == 1 and not hs:
                es[0][0].bwd_grad[es[0][1]] = a.grad
            else:
                plan.sums.append((a.grad, parts_for(es, shape), a.req == "add", node))
        elif len(es) == 1 and not hs:
            t = grad_of[key] = plan.alloc("%s_grad" % node.output_name(key[1]), shape)
            es[0][0].bwd_grad[es[0][1]] = t
        elif not es and len(hs) == 1:
            grad_of[key] = hs[0]
        else:
            total = grad_of[key] = plan.alloc("%s_grad" % node.output_name(key[1]), shape)
            plan.sums.append((total, list(hs) + parts_for(es, shape), False, node))
    return grad_of


def zero_unwritten_gradients(plan, views):
    """Gradients (grad_req='write') of arguments that no kernel or sum writes are zero."""
    written = {id(t) for v in views for t in v.bwd_grad.values()}
    written.update(id(total) for total, _, _, _ in plan.sums)
    for a in plan.args:
        if a.grad is not None and a.req == "write" and id(a.grad) not in written:
            plan.zero_fill.append(a.grad)


def zero_missing_output_grads(plan, views, grad_of):
    """Outputs of nodes that run backward but whose gradient nobody provides (an unused output,
    not a loss) get a zero-filled gradient buffer. Hidden outputs (masks, saved statistics, an
    RNN's reserve) have no gradient: their kernels get NULL."""
    for v in views:
        if not v.needs_backward or v.is_loss:
            continue
        for i, slot in enumerate(v.slots_out[:v.node.num_visible()]):
            key = (id(v.node), i)
            if key not in grad_of:
                t = grad_of[key] = plan.alloc("%s_%s_grad_zero" % (v.name, slot), v.shape[slot])
                plan.zero_fill.append(t)


def add_workspace(plan, views):
    """One scratch buffer, as large as the largest any kernel asks for (kernels run one at a
    time)."""
    ws = max([v.ws for v in views] + [0])
    plan.workspace = plan.alloc("workspace", (ws,)) if ws else None


# ---- kernel arguments -------------------------------------------------------------------------

# (op, predicate of its parameters, input slots its forward kernel writes): such inputs are
# handed over as `real*`. BatchNorm with fix_gamma writes gamma = 1, as MXNet's kernel does.
WRITTEN_INPUTS = [
    ("BatchNorm", lambda p: p.get("fix_gamma"), ("gamma",)),
    ("BatchNorm_v1", lambda p: p.get("fix_gamma"), ("gamma",)),
]


def written_inputs(v):
    """Input slots of view `v` that its forward kernel writes."""
    return {slot for op, when, slots in WRITTEN_INPUTS if v.op == op and when(v.p)
            for slot in slots}


def backward_outputs(views):
    """{name: (Tensor or None, shape)} of the input gradients each backward pass writes, in
    backward order, named as MXNet names its backward nodes' outputs (`<node>_backward_output`,
    with the input's index when the node has several inputs); None for an input whose
    gradient is not needed (MXNet leaves that output unwritten)."""
    out = {}
    for v in reversed(views):
        if not v.needs_backward:
            continue
        slots = list(v.slots_in)
        for k, slot in enumerate(slots):
            suffix = "output%d" % k if len(slots) > 1 else "output"
            out["%s_backward_%s" % (v.node.name, suffix)] = (v.bwd_grad.get(slot),
                                                             tuple(v.shape[slot] or ()))
    return out


def kernel_args(v, value_of, grad_of):
    """v.fwd_args / v.bwd_args: (C type, pointer name as the template names it, arena
    expression). Forward: inputs, aux states, outputs. Backward: inputs, aux, outputs, output
    gradients (NULL where none), input gradients (NULL where not needed)."""
    n = v.node
    n_in = len(v.slots_in)
    ins = list(zip(v.slots_in, n.inputs[:n_in]))
    aux = list(zip(v.slots_aux, n.inputs[n_in:]))
    writes = written_inputs(v)
    for slot, (c, i) in ins:
        v.fwd_args.append(("real*" if slot in writes else "const real*", slot,
                           value_of[(id(c), i)].expr()))
    for slot, (c, i) in aux:
        v.fwd_args.append(("real*", slot, value_of[(id(c), i)].expr()))
    for i, slot in enumerate(v.slots_out):
        v.fwd_args.append(("real*", slot, value_of[(id(n), i)].expr()))
    if not v.needs_backward:
        return
    for slot, (c, i) in ins:
        v.bwd_args.append(("const real*", slot, value_of[(id(c), i)].expr()))
    for slot, (c, i) in aux:
        v.bwd_args.append(("real*", slot, value_of[(id(c), i)].expr()))
    for i, slot in enumerate(v.slots_out):
        v.bwd_args.append(("const real*", slot, value_of[(id(n), i)].expr()))
    for i, slot in enumerate(v.slots_out):
        g = grad_of.get((id(n), i))
        v.bwd_args.append(("const real*", slot + "_grad", g.expr() if g else "NULL"))
    for slot in v.slots_in:
        t = v.bwd_grad.get(slot)
        v.bwd_args.append(("real*", slot + "_grad", t.expr() if t else "NULL"))
