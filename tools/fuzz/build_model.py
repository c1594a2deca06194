"""Export the small model the C reader harnesses are built around.

    python tools/fuzz/build_model.py OUT_DIR

writes OUT_DIR/fz.{c,h,params}, OUT_DIR/fz_train.c (trainer: CSV, IDX and raw readers) and the
rest of a trainer export. The graph has arguments and auxiliary states (BatchNorm) of one to
four dimensions, so the .params reader meets every kind of entry; rows have 4 values.
"""
import sys

import numpy as np

import mxc as mx

NAME = "fz"
BATCH, ROW, CLASSES = 2, 4, 3


def model():
    data = mx.sym.Variable("data")
    net = mx.sym.Reshape(data, shape=(-1, 1, 2, 2), name="img")
    net = mx.sym.Convolution(net, kernel=(1, 1), num_filter=2, name="conv")
    net = mx.sym.BatchNorm(net, name="bn")
    net = mx.sym.Flatten(net, name="flat")
    net = mx.sym.FullyConnected(net, num_hidden=CLASSES, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def export(out_dir):
    mx.random.seed(0)
    np.random.seed(0)
    mod = mx.mod.Module(model())
    mod.bind(data_shapes=[("data", (BATCH, ROW))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    return mod.export(out_dir, kind="trainer", name=NAME)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_model.py OUT_DIR")
    export(sys.argv[1])
