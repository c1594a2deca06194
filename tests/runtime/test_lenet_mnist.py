"""LeNet trained for one epoch on the first 10,000 MNIST images generalises to the test set."""
import gzip

import numpy as np

import mxc as mx


def _idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def _mnist(folder, kind, count=None):
    images = _idx(folder / ("%s-images-idx3-ubyte.gz" % kind), 16).reshape(-1, 1, 28, 28)
    labels = _idx(folder / ("%s-labels-idx1-ubyte.gz" % kind), 8)
    count = count or labels.shape[0]
    return images[:count].astype(np.float32) / 255, labels[:count].astype(np.float32)


def lenet(fc1_act="relu"):
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type=fc1_act, name="relu3")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def test_lenet_one_epoch_reaches_95_percent(shared_dir):
    folder = shared_dir / "data" / "mnist"
    x, y = _mnist(folder, "train", 10000)
    xt, yt = _mnist(folder, "t10k")
    mx.random.seed(0)
    train = mx.io.NDArrayIter(x, y, batch_size=100, shuffle=True)
    mod = mx.mod.Module(lenet())
    mod.fit(train, num_epoch=1, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(magnitude=2.24))
    (name, acc), = mod.score(mx.io.NDArrayIter(xt, yt, batch_size=500), "acc")
    assert name == "accuracy"
    assert acc >= 0.95, acc
