"""Render a Plan into one CUDA translation unit (templates/cuda), and export it with a Makefile.

The device build keeps the C build's arena layout and kernel argument lists: each op node
becomes a host function `<node>_forward/_backward` that launches the op's device kernels
(templates/cuda/ops/<op>.cu.j2 defines the Jinja macros `kernels(n)`, `forward(n)`,
`backward(n)` and optionally `errors(n)`). An op without a CUDA template cannot run on a GPU.
"""
import os
import re

import jinja2

from . import codegen, optimizers
from .cnames import check_name, trusted
from .errors import MXNetError
from .fileio import atomic_write


class CudaNode:
    """A NodeView as the CUDA templates see it: the same fields plus `idx` (its position)."""

    def __init__(self, view, idx):
        self._view, self.idx = view, idx

    def __getattr__(self, name):
        return getattr(self._view, name)


def cuda_template(op):
    """Path of an op's CUDA template, derived from its C template (ops/x.c.j2 -> cuda/ops/x.cu.j2)."""
    if not op.template:
        return None
    base = os.path.basename(op.template)
    if base.endswith(".c.j2"):
        base = base[:-len(".c.j2")] + ".cu.j2"
    return "cuda/ops/" + base


def _has_template(env, path):
    try:
        env.get_template(path)
        return True
    except jinja2.TemplateNotFound:
        return False


def unsupported_ops(plan):
    """[(node label, op name)] of the plan's nodes that have neither CUDA kernels nor a C
    template to run serially on the device."""
    env = codegen.environment()
    out = []
    for v in plan.nodes:
        if kernel_source(env, v.node.op) is None:
            out.append((v.label, v.op))
    return out


def kernel_source(env, op):
    """'cuda' when the op has CUDA kernels, 'serial' when only its C template exists (it then
    runs as one device thread), None when neither."""
    path = cuda_template(op)
    if path is not None and _has_template(env, path):
        return "cuda"
    if op.template and _has_template(env, op.template):
        return "serial"
    return None


def serial_ops(plan):
    """Op names of the plan that run as single-thread device kernels (no CUDA template)."""
    env = codegen.environment()
    return sorted({v.op for v in plan.nodes if kernel_source(env, v.node.op) == "serial"})


def check_supported(plan):
    """Raise MXNetError naming every operator of the plan that has no CUDA kernels."""
    missing = unsupported_ops(plan)
    if missing:
        raise MXNetError("operator%s %s ha%s no CUDA kernels yet (node%s %s): bind this graph "
                         "on mx.cpu()" % ("s" if len({o for _, o in missing}) > 1 else "",
                                          ", ".join(sorted({o for _, o in missing})),
                                          "ve" if len({o for _, o in missing}) > 1 else "s",
                                          "s" if len(missing) > 1 else "",
                                          ", ".join("'%s'" % n for n, _ in missing)))


def optimizer_kinds():
    """Optimizer kinds that have both a C contract and a CUDA kernel."""
    from .build_cuda import optimizer_kinds as device_kinds
    return device_kinds()


class _Launcher(codegen.Kernel):
    """A host function that launches an op's kernels (pointer arguments are device memory)."""

    @property
    def signature(self):
        return trusted(", ".join("%s __restrict__ %s" % (t, n) if t.endswith("*") else
                                 "%s %s" % (t, n) for t, n in self.params))


def _node_code(env, v):
    if kernel_source(env, v.node.op) == "serial":
        return _serial_code(env, v)
    module = env.get_template(cuda_template(v.node.op)).module
    fwd_params, bwd_params = codegen.kernel_params(v)
    launchers = []
    if v.fused_into is None:
        comment = v.describe()
        if v.fused_act is not None:
            comment += "; fused with " + v.fused_act.describe()
        launchers.append(_Launcher(v.forward_name, comment, fwd_params, str(module.forward(v))))
    if v.needs_backward:
        launchers.append(_Launcher(v.name + "_backward", "gradient of " + v.describe(),
                                   bwd_params, str(module.backward(v))))
    errors = module.errors(v) if hasattr(module, "errors") else ""
    return trusted(module.kernels(v)), launchers, trusted(errors)


def _serial_code(env, v):
    """The op's C kernels compiled for the device and launched as one thread (<<<1, 1>>>)."""
    if v.fused_act is not None:
        raise MXNetError("node '%s': a fused FullyConnected needs its CUDA template" % v.label)
    module = env.get_template(v.node.op.template).module
    fwd_params, bwd_params = codegen.kernel_params(v)
    parts = [] if v.fused_into is not None else [("forward", fwd_params, str(module.forward(v)),
                                      v.describe())]
    if v.needs_backward:
        parts.append(("backward", bwd_params, str(module.backward(v)),
                      "gradient of " + v.describe()))
    device, launchers = [], []
    for kind, params, body, comment in parts:
        k = _Launcher("%s_%s" % (v.name, kind), comment, params, body)
        args = ", ".join(n for _, n in params)
        device.append(env.get_template("cuda/common/serial.cu.j2").render(
            k=k, n=v, kind=kind, args=args))
        launchers.append(_Launcher(k.name, comment + " [one device thread]", params,
                                   "%s_serial_k<<<1, 1>>>(%s);" % (k.name, args)))
    errors = 'case 99: return mxc_fail("%s \'%%s\' failed on the device (its message is ' \
             'printed above)", %s);' % (v.op, codegen.environment().filters["cstr"](v.label))
    return trusted("\n".join(device)), launchers, trusted(errors)


class _Launches:
    """The nodes' device code, each emitted once: a node whose kernels and launchers equal an
    earlier node's up to the node's own name (the time steps of an unrolled recurrent net) calls
    that node's launchers (`alias`: launcher name -> the one called)."""

    def __init__(self):
        self.kernels_of, self.launchers, self.alias, self._by_code = {}, [], {}, {}

    def add(self, n, kernels, launchers):
        own = re.compile(r"(?<![A-Za-z0-9_])%s(?=_)" % re.escape(n.name))
        code = (own.sub("@", str(kernels)),
                tuple((own.sub("@", k.name), str(k.signature), own.sub("@", str(k.body)))
                      for k in launchers))
        first = self._by_code.get(code)
        if first is None:
            self._by_code[code] = first = launchers
            self.kernels_of[n.name] = kernels
            self.launchers.extend(launchers)
        else:
            self.kernels_of[n.name] = trusted("")
        for mine, theirs in zip(launchers, first):
            self.alias[mine.name] = theirs.name
            if n.label not in theirs.callers:
                theirs.callers.append(n.label)


# names the entry points use besides the arena's tensors (a tensor pointer must not shadow them)
_HOST_NAMES = ("real", "cudaMemsetAsync", "dim3")


def render(plan, prefix="mxc", kinds=None, metric_io=None, roll=True):
    """Return (cuda_source, cdef) for the plan; raises MXNetError for ops without kernels.

    As in the C build, nodes whose device code is the same up to their names share it, and a
    run of launches repeated back to back (the time steps of an unrolled net) is one host loop
    (roll=False writes every launch out)."""
    check_supported(plan)
    env = codegen.environment()
    nodes = [CudaNode(v, i) for i, v in enumerate(plan.nodes)]
    available = optimizer_kinds()
    kinds = available if kinds is None else [k for k in kinds if k in available]
    code, errors_of = _Launches(), {}
    for n in nodes:
        kernels, ls, errors_of[n.name] = _node_code(env, n)
        code.add(n, kernels, ls)
    inputs = [a for a in plan.args if a.role in ("data", "label")]
    functions = [k.name for k in code.launchers] + list(_HOST_NAMES) + re.findall(
        r"__global__\s+void\s+(\w+)", " ".join(str(t) for t in code.kernels_of.values()))
    names = codegen.TensorNames(plan)
    fwd_ptrs = codegen.Pointers(prefix, functions)
    bwd_ptrs = codegen.Pointers(prefix, functions)
    forward = codegen.EntryWriter(fwd_ptrs, roll).statements(
        [codegen._call_step(v, plan, False, names, code) for v in plan.nodes
         if v.fused_into is None])
    backward_nodes = [v for v in reversed(plan.nodes) if v.needs_backward]
    backward = codegen.EntryWriter(bwd_ptrs, roll).statements(
        codegen._backward_step_list(plan, backward_nodes, names, code))
    ctx = dict(
        plan=plan, prefix=prefix, P=prefix.upper(), real=plan.ctype, nodes=nodes,
        kernels_of=code.kernels_of, errors_of=errors_of, launchers=code.launchers,
        forward_steps=forward, forward_pointers=fwd_ptrs.decls,
        backward_steps=backward, backward_pointers=bwd_ptrs.decls,
        backward_nodes=backward_nodes,
        optim=[(k, optimizers.kind_id(k), optimizers.n_states(k), optimizers.KERNELS[k][1])
               for k in kinds],
        max_hyper=optimizers.MAX_HYPER, inputs=inputs, metric_io=metric_io,
    )
    source = env.get_template("cuda/net.cu.j2").render(**ctx)
    cdef = env.get_template("cuda/net.cdef.j2").render(**ctx)
    return source, cdef


def export_cuda(plan_or_symbol, out_dir, name="mxc", input_shapes=None, data_names=("data",),
                label_names=("softmax_label",), for_training=True, dtype="float32", arch=None):
    """Write <out_dir>/<name>.cu, <name>.h (the C API) and a Makefile that builds
    lib<name>.so with nvcc. Accepts a Plan, or a Symbol plus input_shapes. Returns the paths.

    arch: list of compute capabilities such as ["80", "90"] for the Makefile's default
    (default: the visible GPU's, else a fixed list); `make ARCH="-arch=sm_90"` overrides.
    """
    from .plan import Plan, make_plan
    if isinstance(plan_or_symbol, Plan):
        plan = plan_or_symbol
    else:
        if not input_shapes:
            raise MXNetError("export_cuda: input_shapes is required to export a symbol")
        names = set(plan_or_symbol.list_arguments())
        plan = make_plan(plan_or_symbol, dict(input_shapes),
                         [n for n in data_names if n in names],
                         [n for n in label_names if n in names], None, dtype, for_training)
    check_name(name)
    outs = plan.outputs
    labels = [a for a in plan.args if a.role == "label"]
    metric_io = (outs[0], labels[0]) if (outs and labels) else None
    source, cdef = render(plan, prefix=name, metric_io=metric_io)
    from .build_cuda import arch_flags, resolve_arch
    env = codegen.environment()
    header = env.get_template("cuda/net.h.j2").render(
        prefix=name, P=name.upper(), cdef=trusted(cdef), plan=plan)
    makefile = env.get_template("cuda/Makefile.j2").render(
        name=name, arch=" ".join(arch_flags(resolve_arch(arch))))
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fname, text in ((name + ".cu", source), (name + ".h", header), ("Makefile", makefile)):
        path = os.path.join(out_dir, fname)
        atomic_write(path, text.encode("utf-8"))
        paths.append(path)
    return paths

