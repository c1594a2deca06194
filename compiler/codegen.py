"""Render a Plan into one C translation unit and its header, through the Jinja templates.

Python decides (which kernels, which buffers, which calls); the templates hold every line of C.
Output is deterministic: the same plan renders to the same bytes.
"""
import functools
import re
from importlib import resources

import jinja2

from . import optimizers
from .cnames import c_comment, c_ident, c_string, finalize, trusted
from .errors import MXNetError
from .plan import METRICS  # noqa: F401  (re-exported)



@functools.lru_cache(maxsize=1)
def environment():
    """The one Jinja environment: packaged templates only (parsed in memory, never from a
    bytecode file), StrictUndefined, and every `{{ }}` through cnames.finalize (autoescape makes
    macro results trusted Markup, so only values from Python are checked)."""
    root = resources.files("mxc.compiler.templates")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=True, finalize=finalize)
    env.filters["cfloat"] = _cfloat
    env.filters["cstr"] = c_string
    env.filters["ccomment"] = c_comment
    env.globals["kernel_params"] = kernel_params
    return env


def _cfloat(v):
    """A C literal of a Python number, exact for doubles (inf/nan spelled out)."""
    v = float(v)
    if v != v:
        return "NAN"
    if v in (float("inf"), float("-inf")):
        return "INFINITY" if v > 0 else "-INFINITY"
    return repr(v)


class Kernel:
    """One C function of the translation unit: comment, signature, body; `callers` lists the
    nodes that call it when several nodes share it."""

    def __init__(self, name, comment, params, body):
        self.name, self.params = name, params
        self.comment, self.body = c_comment(comment), trusted(body)
        self.callers = []

    @property
    def signature(self):
        return trusted(", ".join("%s restrict %s" % (t, n) if t.endswith("*") else
                                 "%s %s" % (t, n) for t, n in self.params))

    @property
    def unused_guard(self):
        """`(void)p;` for each parameter the body never reads (empty when it reads them all)."""
        return trusted(" ".join("(void)%s;" % n for _, n in self.params
                                if not re.search(r"\b%s\b" % re.escape(n), str(self.body))))

    @property
    def shared_by(self):
        """Comment text naming the nodes that call this kernel, when more than one does."""
        return c_comment(", ".join(self.callers)) if len(self.callers) > 1 else None


class KernelSet:
    """The kernels of one translation unit, each emitted once: a kernel whose signature and
    body equal an earlier one is that kernel (named after its first node), called by both."""

    def __init__(self):
        self.kernels, self._by_code, self.alias = [], {}, {}

    def add(self, kernel, label):
        """The name that calls `kernel`: its own, or the identical earlier kernel's."""
        code = (str(kernel.signature), str(kernel.body))
        first = self._by_code.get(code)
        if first is None:
            self._by_code[code] = first = kernel
            self.kernels.append(kernel)
        if label not in first.callers:
            first.callers.append(label)
        self.alias[kernel.name] = first.name
        return first.name

    def used(self, helpers):
        """The kernels, without helpers that no emitted kernel calls."""
        bodies = " ".join(str(k.body) for k in self.kernels if k.name not in helpers)
        return [k for k in self.kernels if k.name not in helpers
                or re.search(r"\b%s\(" % re.escape(k.name), bodies)]


# helper kernels an op template may define (a macro of that name rendering the body), called
# from its forward / backward bodies as n.helpers.<name>(...): their C parameters
HELPERS = {
    "im2col": [("const real*", "img"), ("real*", "col"), ("int64_t", "ld")],
    "col2im": [("const real*", "col"), ("real*", "img"), ("int64_t", "ld")],
}


def _template_module(env, v):
    try:
        return env.get_template(v.node.op.template).module
    except jinja2.TemplateNotFound:
        raise MXNetError("operator %s (node '%s'): template %s is missing"
                         % (v.op, v.label, v.node.op.template)) from None


def kernel_params(v):
    """The C parameters of a node's forward and backward kernels: its tensors, then the
    workspace and generator state when it uses them (forward also takes is_train)."""
    extra = []
    if v.ws:
        extra.append(("real*", "workspace"))
    if v.uses_rng:
        extra.append(("uint64_t*", "rng"))
    fwd = [(t, name) for t, name, _ in v.fwd_args] + extra + [("int", "is_train")]
    bwd = [(t, name) for t, name, _ in v.bwd_args] + extra
    return fwd, bwd


def _add_op_kernels(env, v, kset, helper_names):
    module = _template_module(env, v)
    v.helpers = {}
    for helper, params in HELPERS.items():
        macro = getattr(module, helper, None)
        if macro is not None:
            k = Kernel("%s_%s" % (v.name, helper), "%s of %s" % (helper, v.describe()),
                       params, macro(v))
            v.helpers[helper] = kset.add(k, v.label)
            helper_names.add(v.helpers[helper])
    fwd_params, bwd_params = kernel_params(v)
    if v.fused_into is None:                 # a fused relu runs inside its FullyConnected
        comment = v.describe()
        if v.fused_act is not None:
            comment += "; fused with " + v.fused_act.describe()
        kset.add(Kernel(v.forward_name, comment, fwd_params, module.forward(v)), v.label)
    if v.needs_backward:
        kset.add(Kernel(v.name + "_backward", "gradient of " + v.describe(), bwd_params,
                        module.backward(v)), v.label)


# -- named tensor pointers --------------------------------------------------------------------

# identifiers an entry point's own code uses, which a tensor pointer must not shadow
_ENTRY_NAMES = {"mem", "is_train", "state", "kind", "hyper", "parts", "memset", "memcpy",
                "int64_t", "uint64_t", "size_t", "complex", "imaginary", "errno", "stdin",
                "stdout", "stderr", "sizeof"}


class Pointers:
    """The tensors one entry point touches, as `real* const <ident> = mem + <offset>;`
    declarations (idents from cnames.c_ident, unique, never shadowing a function or macro)."""

    def __init__(self, prefix, functions):
        self.prefix = prefix.lower()
        self.taken = set(_ENTRY_NAMES) | set(functions)
        self.decls, self._ident = [], {}

    def ref(self, name, expr):
        """The C expression for tensor `name` at arena expression `expr` ("mem + N")."""
        if expr == "NULL" or not expr.startswith("mem + "):
            return expr
        key = (name, expr)
        if key not in self._ident:
            base = c_ident(name)
            if not any(ch.islower() for ch in base) or base.lower().startswith(
                    ("mxc", self.prefix + "_")):
                base = "t_" + base           # macro-like or runtime-like: keep clear of both
            ident = c_ident(base, self.taken)
            self._ident[key] = ident
            self.decls.append((trusted(ident), trusted(expr), c_comment(name)))
        return self._ident[key]


class TensorNames:
    """The graph name of the tensor behind each kernel argument: values by their producer
    (a variable's name, or `<node>_<output slot>` as the plan allocates them), gradients by the
    arena's named regions (a training plan gives every buffer its own offset), else by the
    producing output."""

    def __init__(self, plan):
        self.view_of = {id(v.node): v for v in plan.nodes}
        self.at = {}
        tensors = [a.value for a in plan.args + plan.aux] + [a.grad for a in plan.args]
        tensors += [o.grad for o in plan.outputs] + list(plan.zero_fill)
        for total, parts, _acc, _node in plan.sums:
            tensors += [total] + list(parts)
        for t in tensors + [plan.workspace]:
            if t is not None:
                self.at.setdefault(t.expr(), t.name)

    def value(self, c, i):
        if c.is_variable:
            return c.name
        v = self.view_of[id(c)]
        if v.fused_act is not None:          # a fused FullyConnected writes its relu's output
            v = v.fused_act
        return "%s_%s" % (v.name, v.slots_out[i])

    def grad(self, c, i, expr):
        return self.at.get(expr) or (c.name if c.is_variable else c.output_name(i)) + "_grad"

    def forward_args(self, v):
        n = v.node
        n_in = len(v.slots_in)
        names = [self.value(c, i) for c, i in n.inputs[:n_in] + n.inputs[n_in:]]
        names += [self.value(n, i) for i in range(len(v.slots_out))]
        return names

    def backward_args(self, v):
        n = v.node
        names = self.forward_args(v)
        k = len(names)
        outs = [self.grad(n, i, v.bwd_args[k + i][2]) for i in range(len(v.slots_out))]
        k += len(outs)
        ins = [self.grad(c, i, v.bwd_args[k + j][2])
               for j, (c, i) in enumerate(n.inputs[:len(v.slots_in)])]
        return names + outs + ins


def _call(v, plan, backward, names, ptrs, kset):
    args = v.bwd_args if backward else v.fwd_args
    tensor_names = names.backward_args(v) if backward else names.forward_args(v)
    out = [ptrs.ref(name, e) for name, (_, _, e) in zip(tensor_names, args)]
    if v.ws:
        out.append(ptrs.ref("workspace", plan.workspace.expr()))
    if v.uses_rng:
        out.append("(uint64_t*)mem")
    if not backward:
        out.append("is_train")
    name = v.name + "_backward" if backward else v.forward_name
    return trusted("%s(%s)" % (kset.alias[name], ", ".join(out)))


def render(plan, prefix="mxc", kinds=None, metric_io=None, training=True):
    """Return (c_source, header, cdef) for the plan.

    kinds: the optimizer kernels to include (default: all known; [] for none);
    metric_io: (output, label) Args the whole-epoch loop scores, or None; training=False
    leaves out the backward, update and training entry points (inference exports).
    """
    env = environment()
    kinds = list(optimizers.KERNELS) if kinds is None else list(kinds)
    kset, helper_names = KernelSet(), set()
    for v in plan.nodes:
        _add_op_kernels(env, v, kset, helper_names)
    kernels = kset.used(helper_names)
    functions = [k.name for k in kernels]
    names = TensorNames(plan)
    fwd_ptrs, bwd_ptrs = Pointers(prefix, functions), Pointers(prefix, functions)
    forward_calls = [_call(v, plan, False, names, fwd_ptrs, kset) for v in plan.nodes
                     if v.fused_into is None]
    backward_nodes = [v for v in reversed(plan.nodes) if v.needs_backward] if training else []
    inputs = [a for a in plan.args if a.role == "data" or (training and a.role == "label")]
    bodies = " ".join(str(k.body) for k in kernels)
    ctx = dict(
        plan=plan, prefix=prefix, P=prefix.upper(), real=plan.ctype, kernels=kernels,
        gemm=set(re.findall(r"\bmxc_gemm\w*", bodies)),
        forward_calls=forward_calls, forward_pointers=fwd_ptrs.decls,
        backward_pointers=bwd_ptrs.decls, training=training,
        optim=[(k, optimizers.kind_id(k), optimizers.n_states(k),
                optimizers.KERNELS[k][1]) for k in kinds] if training else [],
        max_hyper=optimizers.MAX_HYPER, inputs=inputs,
        metric_io=metric_io if training else None, metrics=METRICS,
    )
    ctx["backward_steps"] = _named_backward_steps(plan, backward_nodes, names, bwd_ptrs, kset) \
        if training else []
    source = env.get_template("net.c.j2").render(**ctx)
    header = env.get_template("net.h.j2").render(**ctx)
    cdef = env.get_template("net.cdef.j2").render(**ctx)
    return source, header, cdef


def _named_backward_steps(plan, backward_nodes, names, ptrs, kset):
    """Backward in reverse topological order; an edge sum runs once all its parts exist.
    Steps: ("zero", pointer, tensor), ("sum", target pointer, part pointers, tensor, parts,
    accumulate) and ("call", call)."""
    pending = list(plan.sums)
    steps = [("zero", ptrs.ref(t.name, t.expr()), t) for t in plan.zero_fill]

    def sum_step(s):
        total, parts, accumulate, _node = s
        return ("sum", ptrs.ref(total.name, total.expr()),
                [ptrs.ref(t.name, t.expr()) for t in parts], total, parts, accumulate)
    for v in backward_nodes:
        # sums whose producer is this node's output: all consumers ran already
        for s in [s for s in pending if s[3] is v.node]:
            steps.append(sum_step(s))
            pending.remove(s)
        steps.append(("call", _call(v, plan, True, names, ptrs, kset)))
    for s in pending:                      # sums into arguments (params / data)
        steps.append(sum_step(s))
    return steps


def _backward_steps(plan, ctx):
    """The CUDA entry points' backward steps (arena offsets, kernels by node):
    ("zero", tensor), ("sum", (total, parts, accumulate, node)) and ("call", call)."""
    pending = list(plan.sums)
    steps = [("zero", t) for t in plan.zero_fill]
    for v in ctx["backward_nodes"]:
        for s in [s for s in pending if s[3] is v.node]:
            steps.append(("sum", s))
            pending.remove(s)
        args = [e for _, _, e in v.bwd_args]
        if v.ws:
            args.append(plan.workspace.expr())
        if v.uses_rng:
            args.append("(uint64_t*)mem")
        steps.append(("call", "%s_backward(%s)" % (v.name, ", ".join(args))))
    for s in pending:
        steps.append(("sum", s))
    return steps
