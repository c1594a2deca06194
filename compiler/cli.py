"""`python -m mxc build`: ahead-of-time export of a checkpoint to standalone C."""
import argparse
import os
import re
import sys

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
    b.add_argument("--data-name", action="append", help="data input names (default data)")
    b.add_argument("--label-name", action="append",
                   help="label input names (default softmax_label)")
    b.add_argument("--optimizer", default="sgd", help="trainer optimizer kernel (sgd, sgd_mom)")
    b.add_argument("--lr", type=float, default=0.01, help="trainer learning rate")
    b.add_argument("--wd", type=float, default=0.0)
    b.add_argument("--momentum", type=float, default=0.0)
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
    name = re.sub(r"[^0-9A-Za-z_]", "_", base) or "model"
    return "m_" + name if name[0].isdigit() else name


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
    if args.optimizer == "sgd" and args.momentum:
        args.optimizer = "sgd_mom"
    e = _export.export(sym, arg, aux, dict(args.shape), out, name=name,
                       kind="trainer" if args.trainer else "inference",
                       data_names=args.data_name or ("data",),
                       label_names=args.label_name or ("softmax_label",), embed=args.embed,
                       cc=args.cc, target_flags=args.target_flags, optimizer=args.optimizer,
                       optimizer_params=dict(learning_rate=args.lr, wd=args.wd,
                                             momentum=args.momentum),
                       metric=args.metric, symbol_json=json_text)
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
