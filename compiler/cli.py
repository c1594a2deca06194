"""`python -m mxc build`: ahead-of-time export of a checkpoint to standalone C."""
import argparse
import os
import re
import sys

from .cnames import c_ident
from .errors import MXNetError


def _shape(text):
    name, _, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("--shape %r: expected NAME=D1,D2,..." % text) from None
    if not name or not shape:
        raise argparse.ArgumentTypeError("--shape %r: expected NAME=D1,D2,..." % text)
    return name, shape


def _key_value(text):
    key, eq, value = text.partition("=")
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("--opt-param %r: expected KEY=NUMBER" % text) from None


def optimizer_spec(args):
    """The trainer spec of the command line's optimizer flags."""
    from . import trainer_spec
    params = dict(args.opt_param)
    for key, value in (("learning_rate", args.lr), ("wd", args.wd),
                       ("momentum", args.momentum), ("clip_gradient", args.clip_gradient),
                       ("rescale_grad", args.rescale_grad)):
        if value is not None:
            params[key] = value
    spec = trainer_spec.from_params(args.optimizer, params)
    if args.lr_scheduler:
        step = args.lr_step
        if step is not None:
            try:
                step = [int(v) for v in step.split(",")]
            except ValueError:
                raise MXNetError("--lr-step %r: expected integers N1,N2,..." % step) from None
            step = step if args.lr_scheduler == "multifactor" else step[0]
        spec["scheduler"] = trainer_spec.scheduler(
            args.lr_scheduler, spec["lr"], step=step, factor=args.lr_factor,
            stop_factor_lr=args.stop_factor_lr, max_update=args.max_update,
            final_lr=args.final_lr, pwr=args.pwr, warmup_steps=args.warmup_steps,
            warmup_begin_lr=args.warmup_begin_lr, warmup_mode=args.warmup_mode)
    return spec


def parser():
    p = argparse.ArgumentParser(prog="mxc", description="mxc ahead-of-time tools")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="export PREFIX-symbol.json + params as standalone C")
    b.add_argument("symbol", help="PREFIX-symbol.json")
    b.add_argument("--params", required=True, help="PREFIX-NNNN.params (MXNet format)")
    b.add_argument("--shape", action="append", type=_shape, required=True,
                   help="input shape NAME=D1,D2,... (repeatable; first axis = batch)")
    b.add_argument("--out", help="output folder (default generated/NAME)")
    b.add_argument("--name", help="C name prefix (default: from the symbol file name)")
    b.add_argument("--embed", action="store_true", help="embed the weights in the C source")
    b.add_argument("--trainer", action="store_true", help="also write a standalone trainer")
    b.add_argument("--mpi", action="store_true",
                   help="with --trainer: `make` also builds NAME_train_mpi, data parallel over "
                        "`mpirun -np N` (mpicc; the Makefile's MPI=1 by default)")
    b.add_argument("--data-name", action="append", help="data input names (default data)")
    b.add_argument("--label-name", action="append",
                   help="label input names (default softmax_label)")
    b.add_argument("--optimizer", default="sgd",
                   help="trainer optimizer: sgd, nag, adam, rmsprop, adagrad, adadelta, ftrl, "
                        "signum, ftml, lamb, adamax, nadam (or a kernel kind: sgd_mom, "
                        "rmsprop_centered, signsgd)")
    b.add_argument("--lr", type=float, default=None,
                   help="trainer learning rate (default: the optimizer's MXNet default)")
    b.add_argument("--wd", type=float, default=0.0)
    b.add_argument("--momentum", type=float, default=None)
    b.add_argument("--clip-gradient", type=float, default=None)
    b.add_argument("--rescale-grad", type=float, default=None,
                   help="gradient scale (default 1/batch size, as Module.fit)")
    b.add_argument("--opt-param", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE",
                   help="an optimizer hyper-parameter, e.g. beta1=0.9, centered=1 (repeatable)")
    b.add_argument("--lr-scheduler", choices=("factor", "multifactor", "poly", "cosine"),
                   help="learning-rate schedule by update count, as mx.lr_scheduler")
    b.add_argument("--lr-step", help="factor: step N; multifactor: steps N1,N2,...")
    b.add_argument("--lr-factor", type=float, default=1.0)
    b.add_argument("--stop-factor-lr", type=float, default=1e-8)
    b.add_argument("--max-update", type=int, help="poly/cosine: updates to reach final-lr")
    b.add_argument("--final-lr", type=float, default=0.0)
    b.add_argument("--pwr", type=float, default=2.0)
    b.add_argument("--warmup-steps", type=int, default=0)
    b.add_argument("--warmup-begin-lr", type=float, default=0.0)
    b.add_argument("--warmup-mode", default="linear", choices=("linear", "constant"))
    b.add_argument("--metric", default="acc", choices=("acc", "mse"))
    b.add_argument("--cc", help="C compiler written into the Makefile (default $CC or cc)")
    b.add_argument("--target-flags", default="", help="extra compiler flags for the target")
    b.add_argument("--make", action="store_true", help="run make (and make check) afterwards")
    b.add_argument("--target", default="c", choices=("c", "cuda"),
                   help="c: standalone C for CPUs (default); cuda: CUDA source, header and a "
                        "Makefile for nvcc (needs neither nvcc nor a GPU to write)")
    b.add_argument("--arch", help="cuda: GPU compute capabilities for the Makefile, e.g. 80,90")
    return p


def _default_name(symbol_path):
    base = os.path.basename(symbol_path)
    base = re.sub(r"-symbol\.json$|\.json$", "", base)
    return c_ident(base, set(), fallback="model")


def build_cuda(args, sym, name, out):
    """--target cuda: the graph as <name>.cu / <name>.h / Makefile (weights stay in --params)."""
    from .cuda import export_cuda
    if args.embed:
        raise MXNetError("--embed is not available with --target cuda (upload the weights "
                         "with <name>_upload at the offsets of <name>.h)")
    names = set(sym.list_arguments())
    data = args.data_name or ("data",)
    labels = args.label_name or ("softmax_label",)
    for d in data:
        if d in names and d not in dict(args.shape):
            raise MXNetError("no shape given for input '%s' (use --shape %s=N,...)" % (d, d))
    paths = export_cuda(sym, out, name=name, input_shapes=dict(args.shape), data_names=data,
                        label_names=labels, for_training=args.trainer, arch=args.arch)
    print("wrote %s: %s" % (out, ", ".join(sorted(os.path.basename(p) for p in paths))))
    if args.make:
        import subprocess
        subprocess.run(["make", "-C", out], check=True)
    return paths


def build(args):
    from . import export as _export
    from .symbol import load
    sym = load(args.symbol)
    if args.target == "cuda":
        name = args.name or _default_name(args.symbol)
        if not os.path.isfile(args.params):
            raise MXNetError("--params %s: no such file" % args.params)
        return build_cuda(args, sym, name, args.out or os.path.join("generated", name))
    with open(args.symbol, encoding="utf-8") as f:
        json_text = f.read()
    arg, aux = _export.read_params(args.params)
    name = args.name or _default_name(args.symbol)
    out = args.out or os.path.join("generated", name)
    spec = optimizer_spec(args) if args.trainer else "sgd"
    e = _export.export(sym, arg, aux, dict(args.shape), out, name=name,
                       kind="trainer" if args.trainer else "inference",
                       data_names=args.data_name or ("data",),
                       label_names=args.label_name or ("softmax_label",), embed=args.embed,
                       cc=args.cc, target_flags=args.target_flags, optimizer=spec,
                       metric=args.metric, symbol_json=json_text, mpi=args.mpi)
    print("wrote %s: %s" % (out, ", ".join(sorted(e.files))))
    if args.make:
        import subprocess
        subprocess.run(["make", "-C", out], check=True)
        subprocess.run(["make", "-C", out, "check"], check=True)
    return e


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "build":
            build(args)
    except (MXNetError, OSError) as err:
        print("mxc %s: error: %s" % (args.command, err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
