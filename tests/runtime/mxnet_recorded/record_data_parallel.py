"""Record MXNet 1.9.1's data-parallel training runs (needs real MXNet; never run by the tests).

    VENV/bin/python tests/runtime/mxnet_recorded/record_data_parallel.py

Writes data_parallel/inputs.params (fixed initial parameters and batches) and one
data_parallel/<net>-<run>.params per run: the parameters and auxiliary states after a few
SGD updates as `get_params` returns them ("arg:NAME", "aux:NAME"), every context's own arrays
("dev<k>:arg:NAME", "dev<k>:aux:NAME"), the merged outputs of the last forward ("out:<i>") and
the training metrics ("metric:<name>"); for the runs in STATES_RUNS also the optimizer states
(data_parallel/mlp-<run>.states), for those in FIT_RUNS the same run through Module.fit
(data_parallel/<net>-fit-<run>.params). The tests run `train` below with mxc on the same inputs.
"""
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent / "data_parallel"

BATCH = 8
STEPS = 3
CLASSES = 4
OPTIMIZER = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}

# run name -> (number of contexts, kvstore, work_load_list)
RUNS = {
    "one": (1, "local", None),
    "local": (2, "local", None),
    "device": (2, "device", None),
    "local-1-3": (2, "local", [1, 3]),
    "device-1-3": (2, "device", [1, 3]),
    "nokv": (2, None, None),
    "local-3": (3, "local", [1, 2, 1]),
}


# runs whose optimizer states are saved too ("<net>-<run>.states", MXNet's pickle): keyed by
# parameter index on one context, by name with the optimizer on the kvstore, by the per-context
# index i * ncontexts + k without a kvstore
STATES_RUNS = ("one", "local", "nokv")


def mlp(mx):
    data = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"),
                          act_type="relu", name="relu1")
    out = mx.sym.FullyConnected(h, num_hidden=CLASSES, name="fc2")
    return mx.sym.SoftmaxOutput(out, name="softmax")


def convbn(mx):
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, num_filter=3, kernel=(3, 3), pad=(1, 1), name="conv1")
    bn = mx.sym.BatchNorm(conv, fix_gamma=False, momentum=0.8, name="bn1")
    act = mx.sym.Activation(bn, act_type="relu", name="relu1")
    out = mx.sym.FullyConnected(mx.sym.Flatten(act), num_hidden=CLASSES, name="fc1")
    return mx.sym.SoftmaxOutput(out, name="softmax")


NETS = {"mlp": (mlp, (10,)), "convbn": (convbn, (2, 5, 5))}


def make_inputs(mx):
    """{key: NDArray}: 'init:<net>:arg:NAME' / 'init:<net>:aux:NAME' start values and
    'data:<net>:<step>' / 'label:<step>' batches, drawn from a fixed NumPy seed."""
    rng = np.random.RandomState(15)
    out = {}
    labels = [rng.randint(0, CLASSES, size=BATCH).astype(np.float32) for _ in range(STEPS)]
    for step, lab in enumerate(labels):
        out["label:%d" % step] = lab
    for name, (build, shape) in sorted(NETS.items()):
        sym = build(mx)
        arg_shapes, _, aux_shapes = sym.infer_shape(data=(BATCH,) + shape)
        for arg, shp in zip(sym.list_arguments(), arg_shapes):
            if arg not in ("data", "softmax_label"):
                out["init:%s:arg:%s" % (name, arg)] = (0.4 * rng.randn(*shp)).astype(np.float32)
        for aux, shp in zip(sym.list_auxiliary_states(), aux_shapes):
            base = 1.0 if aux.endswith("var") else 0.0
            out["init:%s:aux:%s" % (name, aux)] = \
                (base + 0.2 * rng.rand(*shp)).astype(np.float32)
        for step in range(STEPS):
            out["data:%s:%d" % (name, step)] = rng.randn(BATCH, *shape).astype(np.float32)
    return {k: mx.nd.array(v) for k, v in out.items()}


def train(mx, inputs, net, run):
    """Train `net` for STEPS updates under `run` (a RUNS key); returns the module and the
    metric (accuracy and MAE over each context's slice, as Module.update_metric adds them)."""
    ndev, kvstore, work_load = RUNS[run]
    build, shape = NETS[net]
    contexts = [mx.cpu(k) for k in range(ndev)]
    mod = mx.mod.Module(build(mx), context=contexts, work_load_list=work_load)
    mod.bind(data_shapes=[("data", (BATCH,) + shape)],
             label_shapes=[("softmax_label", (BATCH,))])
    prefix = "init:%s:" % net
    arg = {k[len(prefix) + 4:]: v for k, v in inputs.items() if k.startswith(prefix + "arg:")}
    aux = {k[len(prefix) + 4:]: v for k, v in inputs.items() if k.startswith(prefix + "aux:")}
    mod.init_params(arg_params=arg, aux_params=aux)
    mod.init_optimizer(kvstore=kvstore, optimizer="sgd", optimizer_params=OPTIMIZER)
    metric = mx.metric.create(["acc", "mae"])
    for step in range(STEPS):
        batch = mx.io.DataBatch([inputs["data:%s:%d" % (net, step)]],
                                [inputs["label:%d" % step]])
        mod.forward_backward(batch)
        mod.update()
        mod.update_metric(metric, batch.label)
    return mod, metric


def fit(mx, inputs, net, run):
    """Module.fit over the same STEPS batches (one epoch of an NDArrayIter) under `run`: at the
    epoch's end fit writes get_params (the contexts' mean) back to every context."""
    ndev, kvstore, work_load = RUNS[run]
    build, shape = NETS[net]
    x = np.concatenate([inputs["data:%s:%d" % (net, s)].asnumpy() for s in range(STEPS)])
    y = np.concatenate([inputs["label:%d" % s].asnumpy() for s in range(STEPS)])
    mod = mx.mod.Module(build(mx), context=[mx.cpu(k) for k in range(ndev)],
                        work_load_list=work_load)
    prefix = "init:%s:" % net
    metric = mx.metric.create(["acc", "mae"])
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), eval_metric=metric, kvstore=kvstore,
            optimizer="sgd", optimizer_params=OPTIMIZER, num_epoch=1,
            arg_params={k[len(prefix) + 4:]: v for k, v in inputs.items()
                        if k.startswith(prefix + "arg:")},
            aux_params={k[len(prefix) + 4:]: v for k, v in inputs.items()
                        if k.startswith(prefix + "aux:")})
    return mod, metric


# runs also recorded through Module.fit ("<net>-fit-<run>.params")
FIT_RUNS = ("local-1-3",)


def results(mx, mod, metric):
    """{key: NDArray} of what a run is checked on (see the module docstring)."""
    out = {}
    arg, aux = mod.get_params()
    out.update({"arg:" + k: v.copy() for k, v in arg.items()})
    out.update({"aux:" + k: v.copy() for k, v in aux.items()})
    group = mod._exec_group
    for k in range(len(group.contexts)):
        for name, block in zip(group.param_names, group.param_arrays):
            out["dev%d:arg:%s" % (k, name)] = block[k].copyto(mx.cpu())
        for name, block in zip(group.aux_names, group.aux_arrays):
            out["dev%d:aux:%s" % (k, name)] = block[k].copyto(mx.cpu())
    for i, o in enumerate(mod.get_outputs()):
        out["out:%d" % i] = o.copyto(mx.cpu())
    for name, value in metric.get_name_value():
        out["metric:" + name] = mx.nd.array([value])
    return out


def main():
    import mxnet as mx
    assert mx.__version__ == "1.9.1", mx.__version__
    HERE.mkdir(exist_ok=True)
    inputs = make_inputs(mx)
    mx.nd.save(str(HERE / "inputs.params"), inputs)
    for net in sorted(NETS):
        for run in RUNS:
            mod, metric = train(mx, inputs, net, run)
            mx.nd.save(str(HERE / ("%s-%s.params" % (net, run))), results(mx, mod, metric))
            if net == "mlp" and run in STATES_RUNS:
                mod.save_optimizer_states(str(HERE / ("%s-%s.states" % (net, run))))
            if run in FIT_RUNS:
                mod, metric = fit(mx, inputs, net, run)
                mx.nd.save(str(HERE / ("%s-fit-%s.params" % (net, run))),
                           results(mx, mod, metric))


if __name__ == "__main__":
    main()
