"""Render a Plan into one C translation unit and its header, through the Jinja templates.

Python decides (which kernels, which buffers, which calls); the templates hold every line of C.
Output is deterministic: the same plan renders to the same bytes.
"""
import bisect
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
        self._comment, self.body = comment, trusted(body)
        self.callers = []

    @property
    def comment(self):
        """The comment text (given as text, or as a function computing it when needed: a
        kernel identical to an earlier one is never printed)."""
        if callable(self._comment):
            self._comment = self._comment()
        return c_comment(self._comment)

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
    body equal an earlier one is that kernel (named after its first node), called by both.

    A kernel name in a namespace of the library's own (`reserved`: name prefixes such as the
    entry points' `mxc_`) is renamed `node_<name>` (with a number when that is a name in
    `planned`, the names every node's kernels would take), so a node named like an entry
    point or a shared kernel cannot clash with it."""

    def __init__(self, reserved=(), planned=()):
        self.kernels, self._by_code, self.alias = [], {}, {}
        self.reserved, self.taken = tuple(reserved), set(planned)

    def _own_name(self, kernel):
        if not self.reserved or not kernel.name.startswith(self.reserved):
            return kernel.name
        name = c_ident("node_" + kernel.name, self.taken)
        return name

    def add(self, kernel, label):
        """The name that calls `kernel`: its own, or the identical earlier kernel's."""
        code = (str(kernel.signature), str(kernel.body))
        first = self._by_code.get(code)
        if first is None:
            original = kernel.name
            kernel.name = self._own_name(kernel)
            self.alias[original] = kernel.name
            self._by_code[code] = first = kernel
            self.kernels.append(kernel)
        if label not in first.callers:
            first.callers.append(label)
        self.alias.setdefault(kernel.name, first.name)
        return first.name

    def used(self, helpers):
        """The kernels, without helpers that no emitted kernel calls."""
        bodies = " ".join(str(k.body) for k in self.kernels if k.name not in helpers)
        return [k for k in self.kernels if k.name not in helpers
                or re.search(r"\b%s\b" % re.escape(k.name), bodies)]


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
        def comment():
            text = v.describe()
            if v.fused_act is not None:
                text += "; fused with " + v.fused_act.describe()
            return text
        kset.add(Kernel(v.forward_name, comment, fwd_params, module.forward(v)), v.label)
    if v.needs_backward:
        kset.add(Kernel(v.name + "_backward", lambda: "gradient of " + v.describe(),
                        bwd_params, module.backward(v)), v.label)


# -- named tensor pointers --------------------------------------------------------------------

# identifiers an entry point's own code uses, which a tensor pointer must not shadow
_ENTRY_NAMES = {"mem", "is_train", "state", "kind", "hyper", "parts", "memset", "memcpy",
                "step", "at", "p",
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


def _tensor_arg(name, expr):
    """A kernel argument: (graph name, arena offset) for a tensor, else the C expression."""
    if expr.startswith("mem + "):
        return (name, int(expr[len("mem + "):]))
    return expr


def _call_step(v, plan, backward, names, kset):
    args = v.bwd_args if backward else v.fwd_args
    tensor_names = names.backward_args(v) if backward else names.forward_args(v)
    out = [_tensor_arg(name, e) for name, (_, _, e) in zip(tensor_names, args)]
    if v.ws:
        out.append(_tensor_arg("workspace", plan.workspace.expr()))
    if v.uses_rng:
        out.append("(uint64_t*)mem")
    if not backward:
        out.append("is_train")
    name = v.name + "_backward" if backward else v.forward_name
    return Step("call", out, fn=kset.alias[name], label=v.label)


# -- entry-point steps, and repeated runs of them as loops ------------------------------------

class Step:
    """One statement of an entry point: a kernel call ("call": fn(args)), a gradient sum
    ("sum": args[0] (=|+=) args[1] + args[2] + ..., `size` elements) or a zero fill ("zero").
    A tensor argument is (graph name, arena offset); any other argument is its C text."""

    def __init__(self, kind, args, fn=None, size=0, acc=False, label=None):
        self.kind, self.args, self.fn = kind, args, fn
        self.size, self.acc, self.label = size, acc, label

    def key(self):
        """Equal for steps that differ only in where their tensors sit in the arena."""
        return (self.kind, self.fn, self.size, self.acc,
                tuple(a if isinstance(a, str) else None for a in self.args))


# A run of steps repeated at least ROLL_MIN_REPEATS times back to back, covering at least
# ROLL_MIN_STEPS steps, becomes one loop (an unrolled recurrent net: one repetition per time
# step); periods up to ROLL_MAX_PERIOD steps are looked for.
ROLL_MIN_REPEATS = 3
ROLL_MIN_STEPS = 24
ROLL_MAX_PERIOD = 2048
ROLL_MAX_CANDIDATES = 128     # periods tried per position: the next occurrences of its key


def find_repeats(keys, min_repeats=ROLL_MIN_REPEATS, min_steps=ROLL_MIN_STEPS,
                 max_period=ROLL_MAX_PERIOD):
    """[(start, period, count)]: disjoint runs where keys[start:start + period] occurs `count`
    times back to back. Scans left to right; at each position the period that covers the most
    steps wins (the shortest among equals)."""
    ids, where = [], {}
    for k in keys:
        ids.append(where.setdefault(k, len(where)))
    positions = {}
    for i, k in enumerate(ids):
        positions.setdefault(k, []).append(i)
    n, i, runs = len(ids), 0, []
    while i < n:
        best, seen = None, positions[ids[i]]
        first = bisect.bisect_right(seen, i)
        for j in seen[first:first + ROLL_MAX_CANDIDATES]:
            p = j - i
            if p > max_period or j + p > n:
                break
            if ids[j + p - 1] != ids[j - 1]:
                continue                 # cheap test before comparing whole blocks
            block = ids[i:j]
            if ids[j:j + p] != block:
                continue
            r = 2
            while ids[i + r * p:i + (r + 1) * p] == block:
                r += 1
            if r >= min_repeats and p * r >= min_steps and \
                    (best is None or p * r > best[1] * best[2]):
                best = (i, p, r)
        if best is None:
            i += 1
        else:
            runs.append(best)
            i += best[1] * best[2]
    return runs


def _moves_by_stride(steps, period, count):
    """Whether every tensor of the run is fixed or moves by one stride per repetition."""
    for k in range(period):
        for a, arg in enumerate(steps[k].args):
            if isinstance(arg, str):
                continue
            offsets = [steps[j * period + k].args[a][1] for j in range(count)]
            if any(b - x != offsets[1] - offsets[0] for x, b in zip(offsets, offsets[1:])):
                return False
    return True


def roll_steps(steps, min_repeats=ROLL_MIN_REPEATS, **limits):
    """The steps with each repeated run (find_repeats) replaced by ("loop", steps of the run,
    period, count); other steps stay as they are, in the same order. A repetition or two at
    either end of a run is left out of the loop when that puts every tensor of the loop at a
    fixed stride (no offset table): the first and last time steps of an unrolled net often
    touch tensors laid out apart from the rest."""
    out, i = [], 0
    for start, period, count in find_repeats([s.key() for s in steps], min_repeats,
                                             **limits):
        run = (0, count)
        for front, back in ((0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (0, 2), (2, 1), (1, 2),
                            (2, 2)):
            n = count - front - back
            if n >= min_repeats and _moves_by_stride(
                    steps[start + front * period:start + (front + n) * period], period, n):
                run = (front, n)
                break
        first = start + run[0] * period
        out.extend(steps[i:first])
        out.append(("loop", steps[first:first + period * run[1]], period, run[1]))
        i = first + period * run[1]
    out.extend(steps[i:])
    return out


class EntryWriter:
    """Turns steps into the statements of one entry point (what net.c.j2 prints): named
    pointers for the tensors it touches, loops for repeated runs. In a loop, a tensor that is
    the same in every repetition is its named pointer, one that moves by a fixed stride is the
    first repetition's pointer plus `stride * step`, and any other is read from a constant
    table of arena offsets (one row per repetition)."""

    def __init__(self, ptrs, roll=True):
        self.ptrs, self.roll = ptrs, roll

    def _ref(self, arg):
        return arg if isinstance(arg, str) else self.ptrs.ref(arg[0], "mem + %d" % arg[1])

    def statements(self, steps):
        """The statements of `steps` (with repeated runs as loops when rolling)."""
        items = roll_steps(steps) if self.roll else steps
        return [self._loop(*it[1:]) if isinstance(it, tuple)
                else self._step(it, lambda a, arg: self._ref(arg), self.roll) for it in items]

    def _step(self, step, ref, alone=False):
        """One statement; `ref(index, arg)` spells a tensor argument. A sum outside a loop
        (alone) with many parts at a fixed stride fills its parts in a loop."""
        parts_loop = self._parts_loop(step) if step.kind == "sum" and alone else None
        used = step.args[:1] if parts_loop else step.args      # a parts loop names one part
        args = [trusted(ref(a, arg)) for a, arg in enumerate(used)]
        if step.kind == "call":
            return dict(kind="call", call=trusted("%s(%s)" % (step.fn, ", ".join(args))))
        if step.kind == "zero":
            return dict(kind="zero", dst=args[0], size=step.size)
        return dict(kind="sum", dst=args[0], parts=args[1:], size=step.size, acc=step.acc,
                    comment=c_comment(step.args[0][0]), parts_loop=parts_loop)

    def _parts_loop(self, step):
        """(first part, stride, count) when a sum's many parts sit at a fixed stride."""
        parts = step.args[1:]
        if len(parts) < 4 or any(isinstance(a, str) for a in parts):
            return None
        stride = parts[1][1] - parts[0][1]
        if stride == 0 or any(b[1] - a[1] != stride for a, b in zip(parts, parts[1:])):
            return None
        return trusted(self._ref(parts[0])), stride, len(parts)

    def _loop(self, steps, period, count):
        columns, rows = [], [[] for _ in range(count)]
        exprs = {}
        for k in range(period):
            for a, arg in enumerate(steps[k].args):
                if isinstance(arg, str):
                    continue
                offsets = [steps[j * period + k].args[a][1] for j in range(count)]
                stride = offsets[1] - offsets[0]
                if all(o == offsets[0] for o in offsets):
                    exprs[(k, a)] = self._ref(arg)
                elif all(b - x == stride for x, b in zip(offsets, offsets[1:])):
                    exprs[(k, a)] = "%s %s %d * step" % (self._ref(arg), "-" if stride < 0
                                                         else "+", abs(stride))
                else:
                    exprs[(k, a)] = "mem + at[step][%d]" % len(columns)
                    columns.append((k, a))
                    for j in range(count):
                        rows[j].append(offsets[j])
        body = [self._step(steps[k], lambda a, arg, k=k: arg if isinstance(arg, str)
                           else exprs[(k, a)]) for k in range(period)]
        labels = [s.label for s in steps if s.label]
        first = [s.label for s in steps[:period] if s.label]
        last = [s.label for s in steps[-period:] if s.label]
        comment = "%d repetitions of %d statements, %s .. %s to %s .. %s" % (
            count, period, first[0], first[-1], last[0], last[-1]) if labels else \
            "%d repetitions of %d statements" % (count, period)
        return dict(kind="loop", count=count, body=body, comment=c_comment(comment),
                    table=[trusted(", ".join(str(o) for o in row)) for row in rows]
                    if columns else None, width=len(columns),
                    row_labels=[c_comment(steps[j * period].label or "") for j in range(count)])


def render(plan, prefix="mxc", kinds=None, metric_io=None, training=True, roll=True):
    """Return (c_source, header, cdef) for the plan: one translation unit holding everything
    (the shared kernels as static functions), as exports ship it.

    kinds: the optimizer kernels to include (default: all known; [] for none);
    metric_io: (output, label) Args the whole-epoch loop scores, or None; training=False
    leaves out the backward, update and training entry points (inference exports);
    roll=False writes every step of the entry points out (no loops over repeated runs or
    over the parts of a sum).
    """
    env, ctx = _context(plan, prefix, kinds, metric_io, training, roll)
    ctx["unit"] = "all"
    source = env.get_template("net.c.j2").render(**ctx)
    return source, ctx["header"], ctx["cdef"]


# kernel code (characters of the bodies) per translation unit of a split build, below which a
# second unit costs more (one more compiler process parsing the same headers) than it saves
SPLIT_MIN_CHARS = 12000


def render_split(plan, parts=2, prefix="mxc", kinds=None, metric_io=None, training=True,
                 roll=True):
    """The plan as several translation units, so that compilers run side by side and each
    part gets its own optimisation level: (glue, kernel_sources, header, cdef).

    glue holds the entry points (`prefix`.c); kernel_sources (at most `parts`, at least one)
    the operator kernels, balanced by size with each helper beside its first caller. The
    shared kernels (GEMM, convolution, gradient sums: render_shared) are a separate object.
    """
    env, ctx = _context(plan, prefix, kinds, metric_io, training, roll)
    kernels = ctx["kernels"]
    size = sum(len(str(k.body)) for k in kernels)
    groups = partition(kernels, max(1, min(parts, size // SPLIT_MIN_CHARS)))
    sources = []
    for i, group in enumerate(groups):
        others = [k for k in kernels if k not in group]
        sources.append(env.get_template("net_kernels.c.j2").render(
            dict(ctx, unit="kernels", split=True, kernels=group, others=others, part=i,
                 parts=len(groups))))
    glue = env.get_template("net.c.j2").render(dict(ctx, unit="glue", split=True))
    return glue, sources, ctx["header"], ctx["cdef"]


def render_shared(real="float"):
    """The shared kernels' translation unit for element type `real` (float or double): the
    GEMM, convolution over a run-time geometry and gradient sums, the same for every graph."""
    if real not in ("float", "double"):
        raise MXNetError("shared kernels: no element type %r" % (real,))
    return environment().get_template("shared.c.j2").render(
        real=real, unit="shared", split=True, conv=True, conv_grad=True, gemm=GEMM_ALL)


GEMM_ALL = ("mxc_gemm_nn", "mxc_gemm_tn", "mxc_gemm_nt", "mxc_gemm_nt_bias")


def partition(kernels, parts):
    """`kernels` in `parts` groups of about equal code size, each in source order: a kernel
    with the helpers it calls (the first caller takes a helper) is one unit of the split."""
    names = {k.name for k in kernels}
    calls = {k.name: [c for c in re.findall(r"\b(\w+)\b", str(k.body))
                      if c in names and c != k.name] for k in kernels}
    helpers = {c for cs in calls.values() for c in cs}
    units, placed = [], set()
    for k in kernels:
        if k.name in helpers:
            continue
        unit = [k]
        for callee in calls[k.name]:
            if callee not in placed:
                unit.extend(x for x in kernels if x.name == callee)
                placed.add(callee)
        units.append(unit)
    units.extend([k] for k in kernels if k.name in helpers and k.name not in placed)
    loads, groups = [0] * parts, [[] for _ in range(parts)]
    for unit in sorted(units, key=lambda u: -sum(len(str(k.body)) for k in u)):
        i = loads.index(min(loads))
        groups[i].extend(unit)
        loads[i] += sum(len(str(k.body)) + 200 for k in unit)
    order = {k.name: i for i, k in enumerate(kernels)}
    return [sorted(g, key=lambda k: order[k.name]) for g in groups if g]


def _context(plan, prefix, kinds, metric_io, training, roll):
    """The Jinja environment and the templates' context for the plan (with its header and
    cdef rendered)."""
    env = environment()
    kinds = list(optimizers.KERNELS) if kinds is None else list(kinds)
    planned = {name for v in plan.nodes for name in
               [v.forward_name, v.name + "_backward"] + [v.name + "_" + h for h in HELPERS]}
    kset, helper_names = KernelSet(("mxc_", prefix + "_"), planned), set()
    for v in plan.nodes:
        _add_op_kernels(env, v, kset, helper_names)
    kernels = kset.used(helper_names)
    functions = [k.name for k in kernels]
    names = TensorNames(plan)
    fwd_ptrs, bwd_ptrs = Pointers(prefix, functions), Pointers(prefix, functions)
    fwd_steps = [_call_step(v, plan, False, names, kset) for v in plan.nodes
                 if v.fused_into is None]
    forward = EntryWriter(fwd_ptrs, roll).statements(fwd_steps)
    backward = []
    if training:
        backward_nodes = [v for v in reversed(plan.nodes) if v.needs_backward]
        backward = EntryWriter(bwd_ptrs, roll).statements(
            _backward_step_list(plan, backward_nodes, names, kset))
    inputs = [a for a in plan.args if a.role == "data" or (training and a.role == "label")]
    bodies = " ".join(str(k.body) for k in kernels)
    gemm = set(re.findall(r"\bmxc_gemm\w*", bodies))
    conv = bool(re.search(r"\bmxc_convolve\(", bodies))
    conv_grad = bool(re.search(r"\bmxc_convolve_grad\(", bodies))
    if conv:                                 # what the shared convolution calls
        gemm.add("mxc_gemm_nn")
    if conv_grad:
        gemm |= {"mxc_gemm_tn", "mxc_gemm_nt"}
    ctx = dict(
        plan=plan, prefix=prefix, P=prefix.upper(), real=plan.ctype, kernels=kernels,
        gemm=gemm, conv=conv or conv_grad, conv_grad=conv_grad, split=False,
        forward_steps=forward, forward_pointers=fwd_ptrs.decls,
        backward_pointers=bwd_ptrs.decls, backward_steps=backward, training=training,
        optim=[(k, optimizers.kind_id(k), optimizers.n_states(k),
                optimizers.KERNELS[k][1]) for k in kinds] if training else [],
        max_hyper=optimizers.MAX_HYPER, inputs=inputs,
        metric_io=metric_io if training else None, metrics=METRICS,
    )
    ctx["header"] = env.get_template("net.h.j2").render(**ctx)
    ctx["cdef"] = env.get_template("net.cdef.j2").render(**ctx)
    return env, ctx


def _backward_step_list(plan, backward_nodes, names, kset):
    """Backward in reverse topological order; an edge sum runs once all its parts exist."""
    pending = list(plan.sums)
    steps = [Step("zero", [(t.name, t.offset)], size=t.size) for t in plan.zero_fill]

    def sum_step(s):
        total, parts, accumulate, _node = s
        return Step("sum", [(t.name, t.offset) for t in [total] + list(parts)],
                    size=total.size, acc=accumulate)
    for v in backward_nodes:
        # sums whose producer is this node's output: all consumers ran already
        for s in [s for s in pending if s[3] is v.node]:
            steps.append(sum_step(s))
            pending.remove(s)
        steps.append(_call_step(v, plan, True, names, kset))
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
