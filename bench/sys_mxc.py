"""The workloads on mxc, written as a user would: mx.sym graph, Module.fit, predict/score."""
import time

import numpy as np

from .workloads import dense_sizes


def symbol(mx, w):
    data = mx.sym.Variable("data")
    if w.conv:
        net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
        net = mx.sym.Activation(net, act_type="relu", name="relu1")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
        net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
        net = mx.sym.Activation(net, act_type="relu", name="relu2")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
        net = mx.sym.Flatten(net, name="flatten")
        net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
        net = mx.sym.Activation(net, act_type="relu", name="relu3")
        net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
        return mx.sym.SoftmaxOutput(net, name="softmax")
    sizes = dense_sizes(w.name)
    net = data
    for k, o in enumerate(sizes[1:], 1):
        net = mx.sym.FullyConnected(net, name="fc%d" % k, num_hidden=o)
        if k < len(sizes) - 1:
            net = mx.sym.Activation(net, name="relu%d" % k, act_type="relu")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def unsupported(mx, w):
    """None when the workload compiles here, else the reason it cannot."""
    try:
        net = symbol(mx, w)
        mod = mx.mod.Module(net)
        shape = (2,) + ((1, 28, 28) if w.conv else (dense_sizes(w.name)[0],))
        mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (2,))])
    except Exception as err:      # a missing op or template: report, don't fail the bench
        return "%s: %s" % (type(err).__name__, str(err).splitlines()[0][:120])
    return None


def _bind_seconds(mx, w, shape, for_training):
    mod = mx.mod.Module(symbol(mx, w))
    t0 = time.perf_counter()
    mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (shape[0],))],
             for_training=for_training)
    return time.perf_counter() - t0, mod


def compile_times(mx, w, arrays):
    """Seconds of the first training bind and inference bind (a cold cache when fresh)."""
    tx = arrays[0]
    train, _ = _bind_seconds(mx, w, (w.batch,) + tx.shape[1:], True)
    infer, _ = _bind_seconds(mx, w, (w.infer_batch,) + tx.shape[1:], False)
    return dict(compile_train_s=train, compile_infer_s=infer)


def run(w, arrays, seed=0):
    import mxc as mx
    tx, ty, vx, vy = arrays
    mx.random.seed(seed)
    np.random.seed(seed)
    train_iter = mx.io.NDArrayIter(tx, ty, w.batch, shuffle=True)
    val_iter = mx.io.NDArrayIter(vx, vy, w.batch) if w.name == "tutorial" else None
    mod = mx.mod.Module(symbol(mx, w), context=mx.cpu())
    init = None if w.name == "tutorial" else mx.init.Xavier(magnitude=2.0)
    t0 = time.perf_counter()
    mod.fit(train_iter, eval_data=val_iter, optimizer="sgd",
            optimizer_params={"learning_rate": w.lr}, eval_metric="acc",
            num_epoch=w.epochs, initializer=init)
    train_s = time.perf_counter() - t0
    if w.name == "tutorial":
        val = dict(mod.score(val_iter, "acc"))["accuracy"]
        infer_iter = val_iter
        pred_mod = mod
        bind_s = 0.0
    else:
        arg, aux = mod.get_params()
        bind_s, pred_mod = _bind_seconds(mx, w, (w.infer_batch,) + vx.shape[1:], False)
        pred_mod.set_params(arg, aux)
        infer_iter = mx.io.NDArrayIter(vx, vy, w.infer_batch)
    t0 = time.perf_counter()
    out = pred_mod.predict(infer_iter)
    infer_s = time.perf_counter() - t0
    if w.name != "tutorial":
        val = float((out.asnumpy().argmax(1) == vy).mean())
    return dict(train_s=train_s, train_samples=len(tx) * w.epochs, infer_s=infer_s,
                infer_samples=len(vx), accuracy=float(val), infer_bind_s=bind_s)
