"""MXNet's Module tutorial, unchanged but for the import line, on the UCI letters data.

    python examples/letters_tutorial.py                 # bundled copy of the data
    python examples/letters_tutorial.py --url URL       # fetch it with mx.test_utils.download
"""
import argparse
import logging
import os
import tempfile

import numpy as np

import mxc as mx

HERE = os.path.dirname(os.path.abspath(__file__))
UCI_URL = ("https://archive.ics.uci.edu/ml/machine-learning-databases/letter-recognition/"
           "letter-recognition.data")


def load_letters(path):
    data = np.genfromtxt(path, delimiter=",")[:, 1:]
    with open(path) as f:
        label = np.array([ord(line.split(",")[0]) - ord("A") for line in f if line.strip()])
    return data, label


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="download the data from this URL (e.g. the UCI one: %s)"
                        % UCI_URL)
    parser.add_argument("--data", default=os.path.join(HERE, "data", "letter-recognition.data"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for checkpoints (default: temp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    mx.random.seed(args.seed)
    fname = args.data
    if args.url:
        fname = mx.test_utils.download(args.url, dirname=args.out or tempfile.gettempdir())
    data, label = load_letters(fname)

    # data iterators: 16,000 rows to train, 4,000 to validate
    batch_size = 32
    ntrain = int(data.shape[0] * 0.8)
    train_iter = mx.io.NDArrayIter(data[:ntrain, :], label[:ntrain], batch_size, shuffle=True)
    val_iter = mx.io.NDArrayIter(data[ntrain:, :], label[ntrain:], batch_size)

    # the network
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=64)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=26)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mx.viz.print_summary(net, shape={"data": (batch_size, 16)})
    try:
        mx.viz.plot_network(net)
    except ImportError as err:
        logging.info("plot_network skipped: %s", err)

    # high level: fit, predict, score
    mod = mx.mod.Module(symbol=net, context=mx.cpu(), data_names=["data"],
                        label_names=["softmax_label"])
    mod.fit(train_iter, eval_data=val_iter, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1}, eval_metric="acc", num_epoch=args.epochs)
    y = mod.predict(val_iter)
    assert y.shape == (4000, 26)
    score = mod.score(val_iter, ["mse", "acc"])
    print("score after fit: %s" % score)

    # checkpoints: save every epoch, load epoch 3, resume from it
    out = args.out or tempfile.mkdtemp(prefix="mxc-tutorial-")
    prefix = os.path.join(out, "mx_mlp")
    mod = mx.mod.Module(symbol=net)
    mod.fit(train_iter, num_epoch=5, epoch_end_callback=mx.callback.do_checkpoint(prefix))
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 3)
    assert sym.tojson() == net.tojson()
    mod.set_params(arg_params, aux_params)
    mod = mx.mod.Module(symbol=sym)
    mod.fit(train_iter, num_epoch=21, arg_params=arg_params, aux_params=aux_params,
            begin_epoch=3)
    print("resumed to epoch 21: %s" % mod.score(val_iter, ["acc"]))

    # the intermediate level: bind, init, and the training loop by hand
    mod = mx.mod.Module(symbol=net)
    mod.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    mod.init_params(initializer=mx.init.Uniform(scale=.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.1),))
    metric = mx.metric.create("acc")
    for epoch in range(5):
        train_iter.reset()
        metric.reset()
        for batch in train_iter:
            mod.forward(batch, is_train=True)
            mod.update_metric(metric, batch.label)
            mod.backward()
            mod.update()
        print("Epoch %d, Training %s" % (epoch, metric.get()))
    print("intermediate loop: %s" % mod.score(val_iter, ["acc"]))
    return mod


if __name__ == "__main__":
    main()
