"""Export a graph as standalone C: an inference library, a self-check, an example program, a
Makefile and optionally a trainer. The C is the same generated source the runtime compiles
(codegen.render with prefix = the export name) plus the templates/export/* API around it.
"""
import os
import re
import shutil
import struct

import numpy as np

from .cnames import check_name, trusted
from .target import CTarget, Rendered
from . import codegen, paramsfile, trainer_spec
from .errors import MXNetError
from .fileio import atomic_write
from .plan import make_plan

TOLERANCE = 1e-5


# ---- .params files (reference section 3), float32 only -------------------------------------
def read_params(path):
    """Read an MXNet .params file into (arg_params, aux_params) of float32 NumPy arrays."""
    records, names = paramsfile.read_file(path)
    if records and not names:
        raise MXNetError("params file '%s' holds unnamed arrays, not arg:/aux: parameters"
                         % path)
    arg, aux = {}, {}
    for key, record in zip(names, records):
        kind, _, name = key.partition(":")
        if record.is_none or record.data.dtype != np.float32:
            raise MXNetError("params file '%s', entry '%s': only float32 arrays can be "
                             "exported (got %s)" % (path, key, "an empty array" if
                                                    record.is_none else record.data.dtype))
        {"arg": arg, "aux": aux}.get(kind, {})[name] = record.data
    return arg, aux


def params_bytes(arg_params, aux_params, order):
    """An MXNet .params image (V2 records) of the weights named in `order` [(name, is_aux)]."""
    head = [struct.pack("<QQQ", 0x112, 0, len(order))]
    names = []
    for name, is_aux in order:
        src = aux_params if is_aux else arg_params
        if name not in src:
            raise MXNetError("%s '%s' has no value to export" % ("auxiliary state" if is_aux
                                                                  else "parameter", name))
        arr = np.ascontiguousarray(np.asarray(src[name], dtype="<f4"))
        head.append(struct.pack("<Iii%dqiii" % arr.ndim, 0xF993FAC9, 0, arr.ndim,
                                *arr.shape, 1, 0, 0))
        head.append(arr.tobytes())
        names.append(("aux:" if is_aux else "arg:") + name)
    head.append(struct.pack("<Q", len(names)))
    for key in names:
        raw = key.encode("utf-8")
        head.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(head)


# ---- export ---------------------------------------------------------------------------------
class Exported:
    """What an export wrote: the folder, the name and the file paths."""

    def __init__(self, out_dir, name, files):
        self.out_dir, self.name, self.files = out_dir, name, files

    def __repr__(self):
        return "Exported(%s, %s)" % (self.out_dir, self.name)


def _cross_ar(cc):
    base = os.path.basename(cc.split()[0])
    m = re.match(r"(.*-)(gcc|cc|clang)(-[0-9.]+)?$", base)
    if m and shutil.which(m.group(1) + "ar"):
        return m.group(1) + "ar"
    return "ar"


def _hexfloats(values):
    return ["%sf" % float(v).hex() if np.isfinite(v) else "0.0f" for v in values.ravel()]


def _reference_io(plan, source, header, cdef, name, arg_params, aux_params, seed):
    """Run the generated graph once from Python on seeded inputs: the self-check's truth."""
    built = CTarget().build(Rendered(source, header, cdef), name=name)
    ffi, lib = built.ffi, built.lib
    arena = np.zeros(plan.size, dtype=np.float32)
    mem = ffi.from_buffer("real[]", arena)
    for a in plan.params:
        arena[a.value.offset:a.value.offset + a.value.size] = np.asarray(
            arg_params[a.name], np.float32).ravel()
    for a in plan.aux:
        arena[a.value.offset:a.value.offset + a.value.size] = np.asarray(
            aux_params[a.name], np.float32).ravel()
    rng = np.random.RandomState(seed)
    inputs = []
    for a in plan.args:
        if a.role == "data":
            x = rng.uniform(-1, 1, a.value.size).astype(np.float32)
            arena[a.value.offset:a.value.offset + a.value.size] = x
            inputs.append((a, x))
    rc = getattr(lib, name + "_forward")(mem, 0)
    if rc:
        built.check(rc, prefix=name)
    outputs = [(o, arena[o.value.offset:o.value.offset + o.value.size].copy())
               for o in plan.outputs]
    return inputs, outputs


def export(symbol, arg_params, aux_params, shapes, out_dir, name="model", kind="inference",
           data_names=("data",), label_names=("softmax_label",), embed=False, cc=None,
           target_flags="", optimizer="sgd", optimizer_params=None, metric="acc",
           symbol_json=None, seed=0, mpi=False):
    """Write the standalone C export of `symbol` into out_dir; returns Exported.

    shapes: {input name: shape} (the batch size is the first dimension of the data input);
    kind: 'inference' or 'trainer' (a trainer also contains the inference library);
    optimizer: a trainer spec (compiler.trainer_spec; Module.export makes one from its
    optimizer) or an optimizer name with MXNet-style optimizer_params (learning_rate, wd,
    momentum, clip_gradient, rescale_grad, the kind's constants, lr_step/lr_factor or
    lr_scheduler=trainer_spec.scheduler(...));
    mpi: the Makefile builds the trainer for MPI too (NAME_train_mpi; MPI=1 by default).
    """
    check_name(name)
    if kind not in ("inference", "trainer"):
        raise MXNetError("export kind must be 'inference' or 'trainer', got %r" % (kind,))
    trainer = kind == "trainer"
    if mpi and not trainer:
        raise MXNetError("export: mpi builds a data-parallel trainer; it needs kind 'trainer' "
                         "(--trainer)")
    arg_names = symbol.list_arguments()
    data_names = [d for d in data_names if d in arg_names]
    label_names = [l for l in label_names if l in arg_names]
    if not data_names:
        raise MXNetError("export: none of the data names is an argument of the symbol "
                         "(arguments: %s)" % ", ".join(arg_names))
    shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
    for d in data_names:
        if d not in shapes:
            raise MXNetError("export: no shape given for input '%s' (use --shape %s=N,...)"
                             % (d, d))
    if trainer and (len(data_names) != 1 or len(label_names) != 1):
        raise MXNetError("export: a trainer needs exactly one data and one label input "
                         "(got data %s, labels %s)" % (data_names, label_names))
    plan = make_plan(symbol, shapes, data_names, label_names, dtype="float32",
                     for_training=trainer)
    # an inference export reads only its data (a loss layer's label is not an input there)
    inputs = [a for a in plan.args if a.role == "data" or (trainer and a.role == "label")]
    data_arg = plan.arg(data_names[0])
    batch = data_arg.value.shape[0]
    for o in plan.outputs:
        if not o.value.shape or o.value.shape[0] != batch:
            raise MXNetError("export: output %s has shape %s, whose first axis is not the "
                             "batch size %d" % (o.name, o.value.shape, batch))
    metric_io = None
    tctx = None
    label_arg = plan.arg(label_names[0]) if label_names else None
    kinds = []
    if trainer:
        spec = (optimizer if isinstance(optimizer, dict)
                else trainer_spec.from_params(optimizer, optimizer_params))
        if metric not in ("acc", "mse"):
            raise MXNetError("export: trainer metric must be 'acc' or 'mse', got %r" % metric)
        if label_arg.value.shape[0] != batch:
            raise MXNetError("export: label %s %s does not have the batch size %d"
                             % (label_arg.name, label_arg.value.shape, batch))
        metric_io = (plan.outputs[0], label_arg)
        json_text = symbol_json if symbol_json is not None else symbol.tojson()
        tctx = trainer_spec.context(spec, plan)
        tctx.update(metric=metric, symbol_json=list(json_text.encode("utf-8")))
        kinds = [tctx["kind"]]
    source, header, cdef = codegen.render(plan, prefix=name, kinds=kinds, metric_io=metric_io,
                                          training=trainer)

    weights = [dict(name=a.name, aux=False, shape=list(a.value.shape), offset=a.value.offset,
                    size=a.value.size) for a in plan.params]
    weights += [dict(name=a.name, aux=True, shape=list(a.value.shape), offset=a.value.offset,
                     size=a.value.size) for a in plan.aux]
    order = [(w["name"], w["aux"]) for w in weights]
    for w in weights:
        src = aux_params if w["aux"] else arg_params
        if w["name"] not in src:
            raise MXNetError("export: no value for %s '%s'" % (
                "auxiliary state" if w["aux"] else "parameter", w["name"]))
        got = tuple(np.shape(src[w["name"]]))
        if got != tuple(w["shape"]):
            raise MXNetError("export: '%s' has shape %s, the graph expects %s"
                             % (w["name"], got, tuple(w["shape"])))
    blob = params_bytes(arg_params, aux_params, order)
    cc = cc or os.environ.get("CC") or "cc"
    env = codegen.environment()
    ctx = dict(name=name, P=name.upper(), plan=plan, inputs=inputs, data_arg=data_arg,
               data_name=data_arg.name, label_arg=label_arg,
               label_row=(label_arg.value.size // batch) if label_arg else 0, batch=batch,
               weights=weights, maxdim=max([len(w["shape"]) for w in weights] + [1]),
               total_weights=sum(w["size"] for w in weights), embed=list(blob) if embed else None,
               trainer=tctx, metric_io=metric_io, cc=cc, ar=_cross_ar(cc),
               target_flags=target_flags or "", tol=TOLERANCE, mpi=bool(mpi))
    net_header = trusted(header.replace('#include <stdint.h>\n', '', 1))
    api_header = env.get_template("export/api.h.j2").render(net_header=net_header, **ctx)
    api_source = source + env.get_template("export/api.c.j2").render(**ctx)

    # reference outputs: the inference graph run from Python
    iplan = plan if not trainer else make_plan(symbol, shapes, data_names, label_names,
                                               dtype="float32", for_training=False)
    isrc, ihdr, icdef = codegen.render(iplan, prefix=name, kinds=[], training=False)
    ref_in, ref_out = _reference_io(iplan, isrc, ihdr, icdef, name, arg_params, aux_params, seed)
    ctx.update(ref_inputs=[(a, _hexfloats(x)) for a, x in ref_in],
               ref_outputs=[(o, _hexfloats(y)) for o, y in ref_out])

    os.makedirs(out_dir, exist_ok=True)
    files = {}

    def put(fname, text):
        path = os.path.join(out_dir, fname)
        atomic_write(path, text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(path, 0o644)
        files[fname] = path

    put(name + ".h", api_header)
    put(name + ".c", api_source)
    put(name + ".params", blob)
    put(name + "-symbol.json", symbol_json if symbol_json is not None else symbol.tojson())
    put(name + "_selfcheck.c", env.get_template("export/selfcheck.c.j2").render(**ctx))
    put(name + "_example.c", env.get_template("export/example.c.j2").render(**ctx))
    if trainer:
        put(name + "_train.c", env.get_template("export/trainer_main.c.j2").render(**ctx))
    put("Makefile", env.get_template("export/Makefile.j2").render(**ctx))
    return Exported(out_dir, name, files)
