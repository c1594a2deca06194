"""LeNet on MNIST with Module.fit: test accuracy after each epoch.

    python examples/lenet_mnist.py --data-dir DIR    # DIR holds the four MNIST *-idx?-ubyte(.gz)
    MXC_SHARED=... python examples/lenet_mnist.py    # DIR defaults to $MXC_SHARED/data/mnist
"""
import argparse
import logging
import os

import mxc as mx

HERE = os.path.dirname(os.path.abspath(__file__))


def default_data_dir():
    shared = os.environ.get("MXC_SHARED") or os.path.join(HERE, "..", "..", "shared")
    return os.path.join(shared, "data", "mnist")


def idx_file(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("MNIST file %s(.gz) not found in %s (use --data-dir)"
                            % (stem, folder))


def lenet(act="tanh"):
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type=act, name="act1")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type=act, name="act2")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type=act, name="act3")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--act", default="relu", choices=["relu", "tanh"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(args.seed)

    train = mx.io.MNISTIter(image=idx_file(args.data_dir, "train-images-idx3-ubyte"),
                            label=idx_file(args.data_dir, "train-labels-idx1-ubyte"),
                            batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test = mx.io.MNISTIter(image=idx_file(args.data_dir, "t10k-images-idx3-ubyte"),
                           label=idx_file(args.data_dir, "t10k-labels-idx1-ubyte"),
                           batch_size=100, shuffle=False)

    mod = mx.mod.Module(lenet(args.act), context=mx.cpu())
    accuracies = []

    def report(epoch, symbol, arg_params, aux_params):
        (_, acc), = mod.score(test, "acc")
        accuracies.append(acc)
        logging.info("Epoch[%d] test accuracy=%.4f", epoch, acc)

    # halve the learning rate after every epoch
    schedule = mx.lr_scheduler.FactorScheduler(step=60000 // args.batch_size, factor=0.5)
    mod.fit(train, num_epoch=args.epochs, optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4,
                              "lr_scheduler": schedule},
            initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 200),
            epoch_end_callback=report)
    return accuracies


if __name__ == "__main__":
    main()
