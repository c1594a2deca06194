"""Render a Plan into one C translation unit and its header, through the Jinja templates.

Python decides (which kernels, which buffers, which calls); the templates hold every line of C.
Output is deterministic: the same plan renders to the same bytes.
"""
import functools
from importlib import resources

import jinja2

from . import optimizers
from .cnames import c_comment, c_string, finalize, trusted
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
    """One C function of the translation unit: comment, signature, body."""

    def __init__(self, name, comment, params, body):
        self.name, self.params = name, params
        self.comment, self.body = c_comment(comment), trusted(body)

    @property
    def signature(self):
        return trusted(", ".join("%s restrict %s" % (t, n) if t.endswith("*") else
                                 "%s %s" % (t, n) for t, n in self.params))

    @property
    def unused_guard(self):
        return trusted(" ".join("(void)%s;" % n for _, n in self.params))


def _op_kernels(env, v):
    try:
        module = env.get_template(v.node.op.template).module
    except jinja2.TemplateNotFound:
        raise MXNetError("operator %s (node '%s'): template %s is missing"
                         % (v.op, v.label, v.node.op.template)) from None
    extra = []
    if v.ws:
        extra.append(("real*", "workspace"))
    if v.uses_rng:
        extra.append(("uint64_t*", "rng"))
    fwd_params = [(t, name) for t, name, _ in v.fwd_args] + extra + [("int", "is_train")]
    out = []
    if v.fused_into is None:                 # a fused relu runs inside its FullyConnected
        comment = v.describe()
        if v.fused_act is not None:
            comment += "; fused with " + v.fused_act.describe()
        out.append(Kernel(v.forward_name, comment, fwd_params, module.forward(v)))
    if v.needs_backward:
        bwd_params = [(t, name) for t, name, _ in v.bwd_args] + extra
        out.append(Kernel(v.name + "_backward", "gradient of " + v.describe(), bwd_params,
                          module.backward(v)))
    return out


def _calls(v, plan, backward, fused=False):
    args = [e for _, _, e in (v.bwd_args if backward else v.fwd_args)]
    if v.ws:
        args.append(plan.workspace.expr())
    if v.uses_rng:
        args.append("(uint64_t*)mem")
    if not backward:
        args.append("is_train")
    name = v.name + "_backward" if backward else (v.forward_name if fused else v.name + "_forward")
    return "%s(%s)" % (name, ", ".join(args))


def render(plan, prefix="mxc", kinds=None, metric_io=None):
    """Return (c_source, header, cdef) for the plan.

    kinds: optimizer kernels to include (default: all known); metric_io: (output, label) Args
    the whole-epoch loop scores, or None.
    """
    env = environment()
    kinds = list(optimizers.KERNELS) if kinds is None else list(kinds)
    kernels = []
    for v in plan.nodes:
        kernels.extend(_op_kernels(env, v))
    inputs = [a for a in plan.args if a.role in ("data", "label")]
    ctx = dict(
        plan=plan, prefix=prefix, P=prefix.upper(), real=plan.ctype, kernels=kernels,
        forward_calls=[_calls(v, plan, False, fused=True) for v in plan.nodes
                       if v.fused_into is None],
        backward_calls=[_calls(v, plan, True) for v in reversed(plan.nodes)
                        if v.needs_backward],
        backward_nodes=[v for v in reversed(plan.nodes) if v.needs_backward],
        optim=[(k, optimizers.kind_id(k), optimizers.n_states(k),
                optimizers.KERNELS[k][1]) for k in kinds],
        max_hyper=optimizers.MAX_HYPER, inputs=inputs, metric_io=metric_io,
        metrics=METRICS,
    )
    ctx["backward_steps"] = _backward_steps(plan, ctx)
    source = env.get_template("net.c.j2").render(**ctx)
    header = env.get_template("net.h.j2").render(**ctx)
    cdef = env.get_template("net.cdef.j2").render(**ctx)
    return source, header, cdef


def _backward_steps(plan, ctx):
    """Backward in reverse topological order; an edge sum runs once all its parts exist."""
    pending = list(plan.sums)
    steps = [("zero", t) for t in plan.zero_fill]
    written = set()
    for v in ctx["backward_nodes"]:
        # sums whose producer is this node's output: all consumers ran already
        ready = [s for s in pending if s[3] is v.node]
        for s in ready:
            steps.append(("sum", s))
            pending.remove(s)
        steps.append(("call", _calls(v, plan, True)))
        written.add(v.name)
    for s in pending:                      # sums into arguments (params / data)
        steps.append(("sum", s))
    return steps
