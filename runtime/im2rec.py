"""Image lists and RecordIO packs from a folder of images: ``python -m mxc.im2rec``.

    python -m mxc.im2rec --list --recursive data/train images/   # data/train.lst
    python -m mxc.im2rec data/train images/ --resize 256         # data/train.rec + .idx

`--list` writes ``index<TAB>label<TAB>relative/path`` lines (with --recursive each
sub-folder is a class, labelled in sorted order; --train-ratio / --test-ratio split the
list into PREFIX_train.lst / PREFIX_val.lst / PREFIX_test.lst). Without `--list` each
PREFIX*.lst is packed into PREFIX*.rec and PREFIX*.idx: the image bytes as they are
(--pass-through) or decoded, centre-cropped to a square (--center-crop), the shorter side
resized (--resize, bilinear) and encoded again (--encoding, --quality; `.raw` stores the
pixels uncompressed, the form the exported C trainer reads).
"""
import argparse
import logging
import os
import random
import sys


from .base import MXNetError
from . import image, recordio

_LOG = logging.getLogger("mxc.im2rec")


def list_images(root, recursive, exts):
    """(relative path, label) of every image under `root`, in sorted order."""
    exts = tuple(e.lower() for e in exts)
    if not recursive:
        for name in sorted(os.listdir(root)):
            if os.path.isfile(os.path.join(root, name)) and name.lower().endswith(exts):
                yield name, 0
        return
    classes = {}
    for path, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(exts):
                folder = os.path.relpath(path, root)
                label = classes.setdefault(folder, len(classes))
                yield os.path.relpath(os.path.join(path, name), root), label


def write_list(path, items):
    """Writes ``index<TAB>label...<TAB>path`` lines."""
    with open(path, "w") as out:
        for index, rel, labels in items:
            out.write("%d\t%s\t%s\n" % (index, "\t".join("%f" % x for x in labels), rel))


def make_lists(prefix, root, recursive=False, exts=(".jpeg", ".jpg", ".png"), shuffle=True,
               train_ratio=1.0, test_ratio=0.0, seed=100):
    """Writes the list file(s) of the images under `root`; returns their paths."""
    items = [(i, rel, [float(label)]) for i, (rel, label)
             in enumerate(list_images(root, recursive, exts))]
    if recursive:
        # class names in label order, as a reminder of what each label means
        seen = {}
        for _, rel, (label,) in items:
            seen.setdefault(int(label), os.path.dirname(rel))
        for label, folder in sorted(seen.items()):
            _LOG.info("label %d: %s", label, folder)
    if shuffle:
        random.Random(seed).shuffle(items)
    count = len(items)
    n_test = int(count * test_ratio)
    n_train = int(count * train_ratio)
    if train_ratio == 1.0 and not n_test:
        parts = [(prefix + ".lst", items)]
    else:
        parts = [(prefix + "_test.lst", items[:n_test]),
                 (prefix + "_train.lst", items[n_test:n_test + n_train]),
                 (prefix + "_val.lst", items[n_test + n_train:])]
        parts = [(path, chunk) for path, chunk in parts if chunk or path.endswith("_train.lst")]
    for path, chunk in parts:
        write_list(path, chunk)
    return [path for path, _ in parts]


def read_list(path):
    """[(index, relative path, [labels])] of a list file; a bad line names file and line."""
    items = []
    with open(path) as fin:
        for lineno, line in enumerate(fin, 1):
            fields = [f for f in line.strip().split("\t")]
            if fields == [""]:
                continue
            try:
                if len(fields) < 3:
                    raise ValueError("expected index<TAB>label...<TAB>path")
                items.append((int(fields[0]), fields[-1], [float(x) for x in fields[1:-1]]))
            except ValueError as err:
                raise MXNetError("im2rec: %s line %d: %s" % (path, lineno, err)) from None
    return items


def encode_item(root, item, pass_through=False, color=1, center_crop=False, resize=0,
                quality=95, encoding=".jpg", pack_label=False):
    """The packed record of one list item."""
    index, rel, labels = item
    label = labels if pack_label and len(labels) > 1 else labels[0]
    header = recordio.IRHeader(0, label, index, 0)
    path = os.path.join(root, rel)
    try:
        with open(path, "rb") as fin:
            data = fin.read()
    except OSError as err:
        raise MXNetError("im2rec: cannot read %s: %s" % (path, err.strerror or err)) from None
    if pass_through:
        return recordio.pack(header, data)
    try:
        img = image._decode_bgr(data, color)  # pylint: disable=protected-access
    except MXNetError as err:
        raise MXNetError("im2rec: %s: %s" % (path, err)) from None
    if center_crop:
        h, w = img.shape[:2]
        margin = abs(h - w) // 2
        img = img[margin:margin + w] if h > w else img[:, margin:margin + h]
    if resize:
        h, w = img.shape[:2]
        new_w, new_h = (resize, h * resize // w) if h > w else (w * resize // h, resize)
        img = image._resize(img, new_w, new_h, 1)  # pylint: disable=protected-access
    return recordio.pack_img(header, img, quality=quality, img_fmt=encoding)


def pack_list(lst_path, root, num_thread=1, **options):
    """Packs the images of list file `lst_path` into the .rec / .idx beside it."""
    base = os.path.splitext(lst_path)[0]
    items = read_list(lst_path)
    writer = recordio.MXIndexedRecordIO(base + ".idx", base + ".rec", "w")
    try:
        if num_thread > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(num_thread) as pool:
                packed = pool.map(lambda it: encode_item(root, it, **options), items)
                for item, record in zip(items, packed):
                    writer.write_idx(item[0], record)
        else:
            for item in items:
                writer.write_idx(item[0], encode_item(root, item, **options))
    finally:
        writer.close()
    _LOG.info("im2rec: packed %d images into %s.rec", len(items), base)
    return base + ".rec", base + ".idx"


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m mxc.im2rec",
        description="Make an image list, or pack the images of list files into RecordIO.")
    parser.add_argument("prefix", help="prefix of the list and record files (or a .lst file)")
    parser.add_argument("root", help="folder of the images")
    group = parser.add_argument_group("list")
    group.add_argument("--list", action="store_true", help="make the list file(s)")
    group.add_argument("--exts", nargs="+", default=[".jpeg", ".jpg", ".png"])
    group.add_argument("--train-ratio", type=float, default=1.0)
    group.add_argument("--test-ratio", type=float, default=0.0)
    group.add_argument("--recursive", action="store_true",
                       help="each sub-folder of root is a class")
    group.add_argument("--no-shuffle", dest="shuffle", action="store_false")
    group = parser.add_argument_group("pack")
    group.add_argument("--pass-through", action="store_true",
                       help="store the image files' bytes as they are")
    group.add_argument("--resize", type=int, default=0, help="shorter side after resizing")
    group.add_argument("--center-crop", action="store_true", help="crop to a centred square")
    group.add_argument("--quality", type=int, default=95,
                       help="JPEG quality 1..100 or PNG compression 0..9")
    group.add_argument("--num-thread", type=int, default=1)
    group.add_argument("--color", type=int, default=1, choices=[-1, 0, 1],
                       help="1 colour, 0 grey, -1 as stored")
    group.add_argument("--encoding", default=".jpg", choices=[".jpg", ".png", ".raw"],
                       help=".raw: uncompressed pixels (RAW8 header, then H x W x C uint8), "
                            "the form the exported C trainer reads")
    group.add_argument("--pack-label", action="store_true",
                       help="store every label of a line (a vector label)")
    return parser


def main(argv=None):
    """Command line entry point."""
    args = _parser().parse_args(argv)
    try:
        if args.list:
            for path in make_lists(args.prefix, args.root, args.recursive, args.exts,
                                   args.shuffle, args.train_ratio, args.test_ratio):
                print("wrote %s" % path)
            return 0
        if args.prefix.endswith(".lst"):
            lists = [args.prefix]
        else:
            folder = os.path.dirname(args.prefix) or "."
            stem = os.path.basename(args.prefix)
            lists = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                           if f.startswith(stem) and f.endswith(".lst"))
        if not lists:
            raise MXNetError("im2rec: no list file %s*.lst (make one with --list)"
                             % args.prefix)
        for lst in lists:
            rec, _ = pack_list(lst, args.root, args.num_thread, pass_through=args.pass_through,
                               color=args.color, center_crop=args.center_crop,
                               resize=args.resize, quality=args.quality,
                               encoding=args.encoding, pack_label=args.pack_label)
            print("wrote %s" % rec)
    except MXNetError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
