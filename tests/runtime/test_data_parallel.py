"""Module on several contexts: one compiled executor per context over its slice of the batch,
against MXNet 1.9.1's recorded runs (mxnet_recorded/record_data_parallel.py) and NumPy."""
import pathlib
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

HERE = pathlib.Path(__file__).resolve().parent / "mxnet_recorded"
sys.path.insert(0, str(HERE))
import record_data_parallel as rec  # noqa: E402  (the runs MXNet recorded, run here with mxc)

RECORDED = HERE / "data_parallel"
TWO = [mx.cpu(0), mx.cpu(1)]


@pytest.fixture(scope="module")
def inputs():
    return mx.nd.load(str(RECORDED / "inputs.params"))


def recorded(net, run):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(RECORDED / ("%s-%s.params" % (net, run))))
            .items()}


def assert_matches(got, want, keys=None):
    for key in keys or sorted(want):
        np.testing.assert_allclose(got[key].asnumpy(), want[key], rtol=1e-5, atol=1e-5,
                                   err_msg=key)


@pytest.mark.parametrize("run", list(rec.RUNS))
@pytest.mark.parametrize("net", ["mlp", "convbn"])
def test_training_matches_mxnet(inputs, net, run):
    """Parameters (get_params: the mean over the contexts), every context's own parameters
    and BatchNorm moving statistics, merged outputs and per-slice metrics after three SGD
    updates with momentum and wd: kvstore 'local' / 'device' / none, work_load_list [1, 3],
    three contexts ([1, 2, 1]), and one context with the same batch."""
    mod, metric = rec.train(mx, inputs, net, run)
    got = rec.results(mx, mod, metric)
    want = recorded(net, run)
    assert sorted(got) == sorted(want)
    assert_matches(got, want)


def test_one_context_and_two_give_the_same_parameters():
    # what MXNet's recordings show too: summed slice gradients with rescale_grad = 1 / batch
    one, two = recorded("mlp", "one"), recorded("mlp", "local-1-3")
    for key in one:
        if key.startswith("arg:"):
            np.testing.assert_allclose(one[key], two[key], rtol=1e-5, atol=1e-6)
    bn_one, bn_two = recorded("convbn", "one"), recorded("convbn", "local")
    assert np.abs(bn_one["dev0:aux:bn1_moving_mean"] - bn_two["dev0:aux:bn1_moving_mean"]).max() \
        > 1e-3                     # BatchNorm: each context normalises its own slice


def _bound(inputs, net="mlp", contexts=TWO, work_load=None, **bind):
    build, shape = rec.NETS[net]
    mod = mx.mod.Module(build(mx), context=contexts, work_load_list=work_load)
    mod.bind(data_shapes=[("data", (rec.BATCH,) + shape)],
             label_shapes=[("softmax_label", (rec.BATCH,))], **bind)
    prefix = "init:%s:" % net
    mod.init_params(arg_params={k[len(prefix) + 4:]: v for k, v in inputs.items()
                                if k.startswith(prefix + "arg:")},
                    aux_params={k[len(prefix) + 4:]: v for k, v in inputs.items()
                                if k.startswith(prefix + "aux:")})
    return mod


def _batch(inputs, step, net="mlp"):
    return mx.io.DataBatch([inputs["data:%s:%d" % (net, step)]], [inputs["label:%d" % step]])


def test_pre_sliced_batches_give_the_recorded_run(inputs):
    mod = _bound(inputs)
    mod.init_optimizer(kvstore="local", optimizer="sgd", optimizer_params=rec.OPTIMIZER)
    metric = mx.metric.create(["acc", "mae"])
    for step in range(rec.STEPS):
        whole = _batch(inputs, step)
        parts = [mx.io.DataBatch([whole.data[0][sl]], [whole.label[0][sl]])
                 for sl in (slice(0, 4), slice(4, 8))]
        mod.forward_backward(parts)
        mod.update()
        mod.update_metric(metric, [b.label for b in parts], pre_sliced=True)
    got = rec.results(mx, mod, metric)
    assert_matches(got, recorded("mlp", "local"))


def test_pre_sliced_batches_must_fit_the_contexts(inputs):
    mod = _bound(inputs)
    whole = _batch(inputs, 0)
    with pytest.raises(MXNetError, match="one DataBatch per context; got 1 batches for 2"):
        mod.forward([whole])
    parts = [mx.io.DataBatch([whole.data[0][0:3]], None),
             mx.io.DataBatch([whole.data[0][3:8]], None)]
    with pytest.raises(MXNetError, match=r"'data' has shape \(3, 10\) on context 0 but "
                                         r"\(5, 10\) on context 1"):
        mod.forward(parts)


def test_one_library_per_slice_shape_and_merged_outputs(inputs):
    mod = _bound(inputs, for_training=False)
    a, b = mod._execs
    assert a is not b and a.lib is b.lib                      # equal slices: one library
    assert a.arena is not b.arena
    x = inputs["data:mlp:0"].asnumpy()
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=False)
    parts = mod.get_outputs(merge_multi_context=False)[0]
    assert [p.shape for p in parts] == [(4, 4), (4, 4)]
    merged = mod.get_outputs()[0].asnumpy()
    np.testing.assert_array_equal(merged, np.concatenate([p.asnumpy() for p in parts]))
    assert mod.output_shapes == [("softmax_output", (8, 4))]
    one = _bound(inputs, contexts=[mx.cpu()], for_training=False)
    one.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=False)
    np.testing.assert_allclose(merged, one.get_outputs()[0].asnumpy(), rtol=1e-6, atol=1e-7)

    uneven = _bound(inputs, work_load=[1, 3], for_training=False)
    a, b = uneven._execs
    assert a.built.key != b.built.key and a.arg_arrays["data"].shape == (2, 10)
    group = uneven._exec_group
    assert group.slices == [slice(0, 2), slice(2, 8)] and len(group.param_arrays[0]) == 2


def test_contexts_keep_their_gradients_unless_the_store_hands_back_the_sum(inputs,
                                                                           monkeypatch):
    def grads(update_on_kvstore):
        monkeypatch.setenv("MXNET_UPDATE_ON_KVSTORE", "1" if update_on_kvstore else "0")
        mod = _bound(inputs)
        mod.init_optimizer(kvstore="local", optimizer="sgd", optimizer_params=rec.OPTIMIZER)
        assert mod._update_on_kvstore == update_on_kvstore
        mod.forward_backward(_batch(inputs, 0))
        before = [[g.asnumpy().copy() for g in block] for block in mod._exec_group.grad_arrays]
        mod.update()
        after = [[g.asnumpy() for g in block] for block in mod._exec_group.grad_arrays]
        return before, after, mod
    before, after, mod_kv = grads(True)
    for b, a in zip(before, after):
        for g_before, g_after in zip(b, a):
            np.testing.assert_array_equal(g_before, g_after)
    before, after, mod_dev = grads(False)
    for b, a in zip(before, after):
        for g_after in a:
            np.testing.assert_allclose(g_after, b[0] + b[1], rtol=1e-6, atol=1e-7)
    for (name, w_kv), w_dev in zip(mod_kv.get_params()[0].items(),
                                   mod_dev.get_params()[0].values()):
        np.testing.assert_array_equal(w_kv.asnumpy(), w_dev.asnumpy(), err_msg=name)


def test_kvstore_objects_and_their_lists_of_device_arrays(inputs):
    want = recorded("mlp", "local")
    for name in ("local", "device"):
        kv = mx.kv.create(name)
        mod = _bound(inputs)
        mod.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=rec.OPTIMIZER)
        assert mod._kvstore is kv and mod._update_on_kvstore
        metric = mx.metric.create(["acc", "mae"])
        for step in range(rec.STEPS):
            mod.forward_backward(_batch(inputs, step))
            mod.update()
            mod.update_metric(metric, _batch(inputs, step).label)
        assert_matches(rec.results(mx, mod, metric), want)
        pulled = mx.nd.zeros((16, 10))
        kv.pull("fc1_weight", out=pulled)               # the store holds the weights
        np.testing.assert_array_equal(pulled.asnumpy(),
                                      mod.get_params()[0]["fc1_weight"].asnumpy())
    # the store sums one array per device (CommCPU's order) and pulls into every device
    group = mod._exec_group
    store = mx.kv.create("device")
    k = group.param_names.index("fc2_bias")
    store.init("g", mx.nd.zeros(group.grad_arrays[k][0].shape))
    store.push("g", group.grad_arrays[k])
    out = [mx.nd.zeros(group.grad_arrays[k][0].shape) for _ in TWO]
    store.pull("g", out=out)
    total = group.grad_arrays[k][0].asnumpy() + group.grad_arrays[k][1].asnumpy()
    for o in out:
        np.testing.assert_array_equal(o.asnumpy(), total)


def test_input_gradients_and_out_grads_are_sliced_and_merged(inputs):
    x = inputs["data:mlp:0"].asnumpy()
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    w = np.random.RandomState(0).randn(3, 10).astype(np.float32)
    head = np.random.RandomState(1).randn(8, 3).astype(np.float32)
    mod = mx.mod.Module(fc, label_names=None, context=TWO, work_load_list=[1, 3])
    mod.bind(data_shapes=[("data", (8, 10))], inputs_need_grad=True)
    mod.init_params(arg_params={"fc_weight": mx.nd.array(w), "fc_bias": mx.nd.zeros(3)})
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=True)
    mod.backward([mx.nd.array(head)])
    np.testing.assert_allclose(mod.get_input_grads()[0].asnumpy(), head @ w, rtol=1e-5,
                               atol=1e-6)
    parts = mod.get_input_grads(merge_multi_context=False)[0]
    assert [p.shape for p in parts] == [(2, 10), (6, 10)]
    grads = mod._exec_group.grad_arrays[0]              # each context's own weight gradient
    for g, sl in zip(grads, (slice(0, 2), slice(2, 8))):
        np.testing.assert_allclose(g.asnumpy(), head[sl].T @ x[sl], rtol=1e-5, atol=1e-5)


@mx.optimizer.register
class PlainStep(mx.optimizer.Optimizer):
    """w -= lr * (rescale_grad * g): an optimizer with no compiled kernel (Python updates)."""

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        weight[:] = weight.asnumpy() - self._get_lr(index) * self.rescale_grad * grad.asnumpy()


@pytest.mark.parametrize("kvstore", ["local", None])
def test_python_updates_over_several_contexts(inputs, kvstore):
    x = inputs["data:mlp:0"].asnumpy()
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc", no_bias=True)
    w = np.random.RandomState(0).randn(3, 10).astype(np.float32)
    head = np.random.RandomState(1).randn(8, 3).astype(np.float32)
    mod = mx.mod.Module(fc, label_names=None, context=TWO)
    mod.bind(data_shapes=[("data", (8, 10))])
    mod.init_params(arg_params={"fc_weight": mx.nd.array(w)})
    mod.init_optimizer(kvstore=kvstore, optimizer="plainstep",
                       optimizer_params={"learning_rate": 0.5})
    assert mod._opt_kernel is None
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=True)
    mod.backward([mx.nd.array(head)])
    mod.update()
    devices = [block[0].asnumpy() for block in mod._exec_group.param_arrays] + \
        [block[1].asnumpy() for block in mod._exec_group.param_arrays]
    grads = [head[sl].T @ x[sl] for sl in (slice(0, 4), slice(4, 8))]
    if kvstore:                 # one update with the summed gradient, on every context
        for dev in devices:
            np.testing.assert_allclose(dev, w - 0.5 / 8 * (grads[0] + grads[1]), rtol=1e-5,
                                       atol=1e-6)
    else:                       # each context with its own gradient; get_params: the mean
        for dev, g in zip(devices, grads):
            np.testing.assert_allclose(dev, w - 0.5 / 8 * g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(),
                                   w - 0.5 / 16 * (grads[0] + grads[1]), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Parameters already initialized")
def test_fit_goes_batch_by_batch_over_the_contexts(inputs):
    x = np.concatenate([inputs["data:mlp:%d" % s].asnumpy() for s in range(rec.STEPS)])
    y = np.concatenate([inputs["label:%d" % s].asnumpy() for s in range(rec.STEPS)])
    results = []
    for contexts in ([mx.cpu()], TWO):
        mod = _bound(inputs, contexts=contexts)
        it = mx.io.NDArrayIter(x, y, batch_size=rec.BATCH)
        assert (mod._fast_path(it, mx.metric.create("acc"), train=False) is None) == \
            (len(contexts) > 1)
        metric = mx.metric.create(["acc", "mae"])
        mod.fit(it, eval_metric=metric, optimizer="sgd", optimizer_params=rec.OPTIMIZER,
                num_epoch=1)
        results.append((mod.get_params()[0], dict(metric.get_name_value())))
    (one, metric_one), (two, metric_two) = results
    for name in one:
        np.testing.assert_allclose(two[name].asnumpy(), one[name].asnumpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    assert metric_one["accuracy"] == metric_two["accuracy"]
    want = recorded("mlp", "local")                     # the same three batches and updates
    for key in want:
        if key.startswith("arg:"):
            np.testing.assert_allclose(two[key[4:]].asnumpy(), want[key], rtol=1e-5,
                                       atol=1e-5)


# each of two MPI ranks trains on its own half of every combined batch over two contexts
DIST_WORKER = r'''
import sys
import numpy as np
import mxc as mx
sys.path.insert(0, sys.argv[1])
import record_data_parallel as rec
kv = mx.kv.create("dist_sync")
inputs = mx.nd.load(sys.argv[1] + "/data_parallel/inputs.params")
half = slice(kv.rank * 4, kv.rank * 4 + 4)
mod = mx.mod.Module(rec.mlp(mx), context=[mx.cpu(0), mx.cpu(1)])
mod.bind(data_shapes=[("data", (4, 10))], label_shapes=[("softmax_label", (4,))])
mod.init_params(arg_params={k[len("init:mlp:arg:"):]: v for k, v in inputs.items()
                            if k.startswith("init:mlp:arg:")})
mod.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=rec.OPTIMIZER)
for step in range(rec.STEPS):
    mod.forward_backward(mx.io.DataBatch([inputs["data:mlp:%d" % step][half]],
                                         [inputs["label:%d" % step][half]]))
    mod.update()
np.savez(sys.argv[2] + "/rank%d.npz" % kv.rank,
         **{k: v.asnumpy() for k, v in mod.get_params()[0].items()})
'''


def _mpi_missing():
    import shutil
    if shutil.which("mpirun") is None:
        return "mpirun is not installed"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed"
    return None


@pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
def test_two_contexts_per_worker_under_dist_sync(tmp_path):
    """Two ranks of two contexts each: the contexts' gradients summed, then all-reduced; the
    parameters of one context training on the whole batch (MXNet's recorded 'one' run)."""
    import os
    import subprocess
    script = tmp_path / "worker.py"
    script.write_text(DIST_WORKER)
    cmd = ["mpirun", "-np", "2"]
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True)
    if "Open MPI" in version.stdout + version.stderr:
        cmd += ["--oversubscribe", "--mca", "btl", "self,vader"]
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    res = subprocess.run(cmd + [sys.executable, str(script), str(HERE), str(tmp_path)],
                         capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stdout + res.stderr
    want = recorded("mlp", "one")
    for rank in range(2):
        got = np.load(tmp_path / ("rank%d.npz" % rank))
        for key in want:
            if key.startswith("arg:"):
                np.testing.assert_allclose(got[key[4:]], want[key], rtol=1e-5, atol=1e-5,
                                           err_msg="rank %d %s" % (rank, key))


def test_predict_score_and_a_new_batch_size_over_two_contexts(inputs):
    x = np.concatenate([inputs["data:convbn:%d" % s].asnumpy() for s in range(rec.STEPS)])
    y = np.concatenate([inputs["label:%d" % s].asnumpy() for s in range(rec.STEPS)])
    one = _bound(inputs, "convbn", contexts=[mx.cpu()], for_training=False)
    two = _bound(inputs, "convbn", for_training=False)
    it = mx.io.NDArrayIter(x[:20], y[:20], batch_size=rec.BATCH)     # the last batch padded
    np.testing.assert_allclose(two.predict(it).asnumpy(), one.predict(it).asnumpy(),
                               rtol=1e-5, atol=1e-6)
    assert dict(two.score(it, "acc")) == dict(one.score(it, "acc"))
    batch = mx.io.DataBatch([mx.nd.array(x[:6])], None)          # rebinds: slices of 3 and 3
    two.forward(batch, is_train=False)
    one.forward(batch, is_train=False)
    assert [p.shape[0] for p in two.get_outputs(merge_multi_context=False)[0]] == [3, 3]
    np.testing.assert_allclose(two.get_outputs()[0].asnumpy(), one.get_outputs()[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)
    assert two.output_shapes == one.output_shapes == [("softmax_output", (6, 4))]


def test_several_contexts_leave_the_random_stream_as_one_does():
    """Initial values after mx.random.seed do not depend on the number of contexts (as in
    MXNet); each context's executor still draws its own Dropout masks."""
    net = mx.sym.Dropout(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=50,
                                               name="fc"), p=0.5)
    params, masks = [], None
    for contexts in ([mx.cpu()], TWO):
        mx.random.seed(7)
        mod = mx.mod.Module(net, label_names=None, context=contexts)
        mod.bind(data_shapes=[("data", (8, 3))])
        mod.init_params(mx.init.Xavier())
        params.append(mod.get_params()[0])
        mod.forward(mx.io.DataBatch([mx.nd.ones((8, 3))]), is_train=True)
        masks = [p.asnumpy() != 0 for p in mod.get_outputs(merge_multi_context=False)[0]]
    for name in params[0]:
        np.testing.assert_array_equal(params[0][name].asnumpy(), params[1][name].asnumpy())
    assert not np.array_equal(masks[0], masks[1])


def test_contexts_run_at_the_same_time_with_the_same_numbers(inputs, monkeypatch):
    from mxc.module import data_parallel as dp
    monkeypatch.setattr(dp, "CONCURRENT_SIZE", 0)      # every graph runs its contexts at once
    mod, metric = rec.train(mx, inputs, "convbn", "device-1-3")
    assert dp._parallel(mod._execs)
    assert_matches(rec.results(mx, mod, metric), recorded("convbn", "device-1-3"))
    # an error in the context running in another thread reaches the caller
    data, idx = mx.sym.Variable("data"), mx.sym.Variable("idx")
    net = mx.sym.take(mx.sym.FullyConnected(data, num_hidden=4, name="fc"), idx, axis=1,
                      mode="raise")
    mod = mx.mod.Module(net, data_names=["data", "idx"], label_names=None, context=TWO)
    mod.bind(data_shapes=[("data", (8, 3)), ("idx", (8,))])
    mod.init_params()
    bad = np.zeros(8, dtype=np.float32)
    bad[6] = 9
    with pytest.raises(MXNetError, match="index 9"):
        mod.forward(mx.io.DataBatch([mx.nd.ones((8, 3)), mx.nd.array(bad)]))


class _PreSlicedIter(mx.io.DataIter):
    """An iterator handing out each batch as one DataBatch per context (MXNet's pre-sliced
    batches)."""

    def __init__(self, inner, cut):
        super().__init__(inner.batch_size)
        self.inner, self.cut = inner, cut
        self.provide_data, self.provide_label = inner.provide_data, inner.provide_label

    def reset(self):
        self.inner.reset()

    def __next__(self):
        b = next(self.inner)
        return [mx.io.DataBatch([b.data[0][sl]], [b.label[0][sl]], pad=0)
                for sl in (slice(0, self.cut), slice(self.cut, self.batch_size))]


@pytest.mark.filterwarnings("ignore:Parameters already initialized")
def test_fit_and_score_take_pre_sliced_batches(inputs):
    x = np.concatenate([inputs["data:mlp:%d" % s].asnumpy() for s in range(rec.STEPS)])
    y = np.concatenate([inputs["label:%d" % s].asnumpy() for s in range(rec.STEPS)])
    results = []
    for presliced in (False, True):
        mod = _bound(inputs)
        it = mx.io.NDArrayIter(x, y, batch_size=rec.BATCH)
        train = _PreSlicedIter(it, 4) if presliced else it
        metric = mx.metric.create(["acc", "mae"])
        mod.fit(train, eval_metric=metric, optimizer="sgd", optimizer_params=rec.OPTIMIZER,
                num_epoch=1)
        results.append((mod.get_params()[0], dict(mod.score(train, ["acc", "mae"]))))
    (plain, score_plain), (sliced, score_sliced) = results
    for name in plain:
        np.testing.assert_array_equal(sliced[name].asnumpy(), plain[name].asnumpy())
    assert score_sliced == score_plain


@pytest.mark.filterwarnings("ignore:Parameters already initialized")
def test_bench_script_measures_one_and_two_contexts(shared_dir):
    sys.path.insert(0, str(HERE.parent.parent.parent))
    from bench import data_parallel as bench
    assert bench.measure("mxc", "tutorial", 2, 128, epochs=1, repeat=1) > 0


def _states(path):
    from mxc import states_format
    return {k: v.asnumpy() for k, v in
            states_format.loads(pathlib.Path(path).read_bytes(), str(path)).items()}


@pytest.mark.parametrize("run", rec.STATES_RUNS)
def test_optimizer_states_are_saved_and_loaded_with_mxnets_keys(inputs, run, tmp_path):
    """By parameter index on one context, by name with the optimizer on the kvstore, by
    i * ncontexts + k without a store (each context's own momentum), as MXNet saves them."""
    want = _states(RECORDED / ("mlp-%s.states" % run))
    mod, _metric = rec.train(mx, inputs, "mlp", run)
    mod.save_optimizer_states(str(tmp_path / "mine.states"))
    got = _states(tmp_path / "mine.states")
    assert sorted(got, key=str) == sorted(want, key=str)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=str(key))
    # MXNet's file read into a new module gives the same states back
    ndev, kvstore, work_load = rec.RUNS[run]
    fresh = _bound(inputs, contexts=TWO[:ndev], work_load=work_load)
    fresh.init_optimizer(kvstore=kvstore, optimizer="sgd", optimizer_params=rec.OPTIMIZER)
    fresh.load_optimizer_states(str(RECORDED / ("mlp-%s.states" % run)))
    fresh.save_optimizer_states(str(tmp_path / "again.states"))
    again = _states(tmp_path / "again.states")
    for key in want:
        np.testing.assert_allclose(again[key], want[key], rtol=1e-6, atol=1e-7,
                                   err_msg=str(key))


def test_optimizer_states_naming_another_parameter_are_refused(inputs, tmp_path):
    mod = _bound(inputs)
    mod.init_optimizer(kvstore="local", optimizer="sgd", optimizer_params=rec.OPTIMIZER)
    from mxc import states_format
    (tmp_path / "bad.states").write_bytes(states_format.dumps({"conv9_weight": None}))
    with pytest.raises(MXNetError, match="'conv9_weight', which is not a parameter"):
        mod.load_optimizer_states(str(tmp_path / "bad.states"))


def test_monitor_sees_every_contexts_outputs(inputs):
    mod = _bound(inputs)
    mon = mx.mon.Monitor(1, pattern="fc2_output", stat_func=lambda x: mx.nd.array([x.shape[0]]))
    mod.install_monitor(mon)
    mon.tic()
    mod.forward(_batch(inputs, 0), is_train=True)
    rows = [float(text) for _step, name, text in mon.toc() if name == "fc2_output"]
    assert rows == [4.0, 4.0]                   # one statistic per context, of its slice


@pytest.mark.filterwarnings("ignore:Parameters already initialized")
@pytest.mark.parametrize("run", rec.FIT_RUNS)
@pytest.mark.parametrize("net", ["mlp", "convbn"])
def test_fit_matches_mxnet(inputs, net, run):
    """Module.fit on several contexts: at the epoch's end every context gets the mean of the
    contexts' BatchNorm statistics (fit's get_params / set_params), as in MXNet."""
    mod, metric = rec.fit(mx, inputs, net, run)
    got = rec.results(mx, mod, metric)
    want = recorded(net, "fit-" + run)
    assert sorted(got) == sorted(want)
    assert_matches(got, want)


def test_a_forked_child_gets_its_own_context_threads(inputs, monkeypatch):
    import os
    import time
    from mxc.module import data_parallel as dp
    monkeypatch.setattr(dp, "CONCURRENT_SIZE", 0)
    mod = _bound(inputs, for_training=False)
    batch = _batch(inputs, 0)
    mod.forward(batch, is_train=False)              # the pool exists in this process
    want = mod.get_outputs()[0].asnumpy()
    pid = os.fork()
    if pid == 0:                                    # the child: a forward must not hang
        code = 1
        try:
            mod.forward(batch, is_train=False)
            code = 0 if np.array_equal(mod.get_outputs()[0].asnumpy(), want) else 2
        finally:
            os._exit(code)
    deadline = time.time() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's forward hung")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
