"""ImageRecordIter throughput, alone and feeding ResNet-20 training.

    python -m bench.image_iter [--quick] [--mxnet-python VENV/bin/python]
    python bench/image_iter.py --images32 4096 --images224 256 --batch 128

Makes synthetic JPEG images (32x32 and 224x224, quality 90: smooth colour fields plus noise),
packs them into .rec files with mx.recordio, then measures:

1. images/s of mx.io.ImageRecordIter alone (decode, centre crop, mean/std, batching; the
   consumer only takes the batches), preprocess_threads 1 and 2;
2. samples/s of ResNet-20 (CIFAR, 3x32x32, built here) training with Module
   (forward_backward + SGD update) on synthetic in-memory data through NDArrayIter, and fed by
   ImageRecordIter over the 32x32 .rec file;
3. with --mxnet-python (a Python with real MXNet 1.x), MXNet's ImageRecordIter on the same
   files and settings, in a subprocess.

Each number is the median of --repeats timed epochs after one warm-up epoch; for training
the share of the epoch spent waiting for the next batch is printed too (the iterator starves
training when it is more than a few percent).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):                       # `python bench/image_iter.py`
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    __package__ = "bench"

import numpy as np                                   # noqa: E402

MEAN = dict(mean_r=125.3, mean_g=123.0, mean_b=113.9, std_r=63.0, std_g=62.1, std_b=66.7)


def make_images(count, side, seed):
    """`count` uint8 (side, side, 3) BGR images: smooth colour fields with noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    for _ in range(count):
        f = rng.uniform(1, 6, size=3)
        p = rng.uniform(0, 6.3, size=3)
        img = np.stack([128 + 100 * np.sin(f[c] * (x + y * (c + 1)) * 3 + p[c])
                        for c in range(3)], axis=2)
        img += rng.normal(0, 12, img.shape)
        yield np.clip(img, 0, 255).astype(np.uint8)


def write_rec(mx, path, count, side, seed=0):
    writer = mx.recordio.MXIndexedRecordIO(path[:-4] + ".idx", path, "w")
    for i, img in enumerate(make_images(count, side, seed)):
        header = mx.recordio.IRHeader(0, float(i % 10), i, 0)
        writer.write_idx(i, mx.recordio.pack_img(header, img, quality=90, img_fmt=".jpg"))
    writer.close()


def time_epochs(it, repeats, per_batch=None):
    """Median seconds per epoch, images per epoch and the median fraction of the epoch spent
    waiting for the iterator's next batch (after a warm-up epoch)."""
    times, waits, images = [], [], 0
    for rep in range(repeats + 1):
        it.reset()
        start, count, wait = time.perf_counter(), 0, 0.0
        while True:
            asked = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - asked
            count += batch.data[0].shape[0] - batch.pad
            if per_batch is not None:
                per_batch(batch)
        if rep:
            times.append(time.perf_counter() - start)
            waits.append(wait / times[-1])
            images = count
    return float(np.median(times)), images, float(np.median(waits))


def iter_rate(mx, rec, side, batch, threads, repeats):
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, side, side), batch_size=batch,
                               preprocess_threads=threads, round_batch=False, verbose=False,
                               **MEAN)
    seconds, images, _ = time_epochs(it, repeats)
    return images / seconds


# --------------------------------------------------------------------------- ResNet-20


def resnet20(mx, num_classes=10):
    """ResNet-20 for 3x32x32 (He et al. 2016, CIFAR): a 3x3 conv of 16, three stages of three
    basic blocks (16, 32, 64 filters; stride 2 into stages 2 and 3, 1x1 projection
    shortcuts there), BatchNorm + ReLU, global average pooling, a 10-way softmax."""
    sym = mx.sym

    def conv_bn(x, filters, stride, name, relu=True, kernel=3):
        pad = (kernel // 2, kernel // 2)
        x = sym.Convolution(x, num_filter=filters, kernel=(kernel, kernel),
                            stride=(stride, stride), pad=pad, no_bias=True, name=name + "_conv")
        x = sym.BatchNorm(x, fix_gamma=False, momentum=0.9, eps=1e-5, name=name + "_bn")
        return sym.Activation(x, act_type="relu", name=name + "_relu") if relu else x

    x = conv_bn(sym.Variable("data"), 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            name = "s%d_b%d" % (stage, block)
            out = conv_bn(x, filters, stride, name + "_a")
            out = conv_bn(out, filters, 1, name + "_b", relu=False)
            short = x if stride == 1 else conv_bn(x, filters, stride, name + "_proj",
                                                  relu=False, kernel=1)
            x = sym.Activation(out + short, act_type="relu", name=name + "_out")
    x = sym.Pooling(x, global_pool=True, kernel=(8, 8), pool_type="avg", name="pool")
    x = sym.FullyConnected(sym.Flatten(x), num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(x, name="softmax")


def train_rate(mx, data_iter, repeats):
    """ResNet-20 training samples/s over `data_iter` (forward_backward + SGD update)."""
    mod = mx.mod.Module(resnet20(mx), context=mx.cpu())
    mod.bind(data_shapes=data_iter.provide_data, label_shapes=data_iter.provide_label)
    mod.init_params(mx.init.Xavier(magnitude=2.0))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.05,
                                                           "momentum": 0.9, "wd": 1e-4})

    def step(batch):
        mod.forward_backward(batch)
        mod.update()
    seconds, images, wait = time_epochs(data_iter, repeats, step)
    return images / seconds, wait


# --------------------------------------------------------------------------- real MXNet

_MXNET_SCRIPT = r"""
import json, sys, time
import numpy as np
import mxnet as mx
spec = json.loads(sys.argv[1])
out = {"version": mx.__version__}
for key, rec, side in spec["files"]:
    for threads in spec["threads"]:
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, side, side),
                                   batch_size=spec["batch"], preprocess_threads=threads,
                                   round_batch=False, verbose=False, **spec["mean"])
        times = []
        for rep in range(spec["repeats"] + 1):
            it.reset()
            start, count = time.perf_counter(), 0
            for batch in it:
                batch.data[0].wait_to_read()
                count += batch.data[0].shape[0] - batch.pad
            if rep:
                times.append(time.perf_counter() - start)
        out["%s_t%d" % (key, threads)] = count / float(np.median(times))
print(json.dumps(out))
"""


def mxnet_rates(python, files, batch, threads, repeats):
    spec = dict(files=files, batch=batch, threads=threads, repeats=repeats, mean=MEAN)
    proc = subprocess.run([python, "-c", _MXNET_SCRIPT, json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images32", type=int, default=4096)
    parser.add_argument("--images224", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--train-batches", type=int, default=12,
                        help="batches in a training epoch (in-memory and .rec)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mxnet-python", default=os.environ.get("MXNET_PYTHON", ""),
                        help="a Python with real MXNet to run its ImageRecordIter")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--no-train", action="store_true", help="the iterators only")
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    if args.quick:
        args.images32, args.images224, args.repeats, args.train_batches = 512, 32, 1, 3
    import mxc as mx
    results = {"batch": args.batch, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        rec32, rec224 = os.path.join(tmp, "img32.rec"), os.path.join(tmp, "img224.rec")
        write_rec(mx, rec32, args.images32, 32)
        write_rec(mx, rec224, args.images224, 224, seed=1)
        for key, rec, side in (("iter32", rec32, 32), ("iter224", rec224, 224)):
            for threads in (1, 2):
                rate = iter_rate(mx, rec, side, args.batch, threads, args.repeats)
                results["mxc_%s_t%d" % (key, threads)] = rate
                print("mxc   ImageRecordIter %3dx%-3d threads %d: %8.0f images/s"
                      % (side, side, threads, rate), flush=True)
        if args.mxnet_python:
            theirs = mxnet_rates(args.mxnet_python, [("iter32", rec32, 32),
                                                     ("iter224", rec224, 224)],
                                 args.batch, [1, 2], args.repeats)
            results["mxnet"] = theirs
            for key, value in sorted(theirs.items()):
                if key.startswith("iter"):
                    print("mxnet %s ImageRecordIter %s: %8.0f images/s"
                          % (theirs.get("version"), key, value), flush=True)
                elif key == "error":
                    print("mxnet: %s" % value)
        if args.no_train:
            return _save(args.output, results)
        count = args.train_batches * args.batch
        rng = np.random.RandomState(0)
        data = rng.normal(0, 1, (count, 3, 32, 32)).astype(np.float32)
        label = rng.randint(0, 10, count).astype(np.float32)
        mem = mx.io.NDArrayIter(data, label, batch_size=args.batch,
                                label_name="softmax_label")
        rate, wait = train_rate(mx, mem, args.repeats)
        results["train_inmemory"] = rate
        print("mxc   ResNet-20 training, NDArrayIter in memory: %8.0f samples/s "
              "(%.1f%% of the time waiting for batches)" % (rate, 100 * wait), flush=True)
        sub = os.path.join(tmp, "train32.rec")
        write_rec(mx, sub, count, 32, seed=2)
        for threads in (1, 2):
            fed = mx.io.ImageRecordIter(path_imgrec=sub, data_shape=(3, 32, 32),
                                        batch_size=args.batch, preprocess_threads=threads,
                                        rand_crop=True, rand_mirror=True, pad=4, fill_value=0,
                                        round_batch=False, verbose=False, **MEAN)
            rate, wait = train_rate(mx, fed, args.repeats)
            results["train_rec_t%d" % threads] = rate
            results["train_rec_t%d_wait" % threads] = wait
            print("mxc   ResNet-20 training, ImageRecordIter (pad 4, random crop + mirror, "
                  "%d threads): %8.0f samples/s (%.1f%% of the time waiting for batches)"
                  % (threads, rate, 100 * wait), flush=True)
    return _save(args.output, results)


def _save(output, results):
    if output:
        pathlib.Path(output).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
