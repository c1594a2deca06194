"""The Module surface that real MXNet scripts use around the compiled core: the profiler,
mx.contrib.amp, mx.util.makedirs, nd.save of dicts and lists, user DataIter subclasses in
fit / score / predict, and the logging set-up of a script (Speedometer and epoch lines)."""
import json
import logging
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mxc as mx
from mxc import profiler


def _mlp():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _data(n=48, d=6, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    y = (np.argmax(x[:, :3], axis=1)).astype(np.float32)
    return x, y


def _fit(train, num_epoch=2, **kwargs):
    mod = mx.mod.Module(_mlp())
    mx.random.seed(7)
    np.random.seed(7)
    mod.fit(train, num_epoch=num_epoch, optimizer="sgd", initializer=mx.init.Xavier(),
            optimizer_params={"learning_rate": 0.5, "momentum": 0.9}, **kwargs)
    return mod


@pytest.fixture
def stopped_profiler():
    yield
    profiler.set_state("stop")
    profiler._PROFILER.events = []
    profiler._PROFILER.paused = False
    profiler._PROFILER.config = {"filename": "profile.json", "profile_all": False,
                                 "profile_symbolic": True, "aggregate_stats": False}


# ----------------------------------------------------------------------------- profiler

def test_profiler_times_each_module_call_and_says_what_it_measures(tmp_path, stopped_profiler):
    x, y = _data()
    out = tmp_path / "trace.json"
    profiler.set_config(filename=str(out), profile_all=True, aggregate_stats=True)
    profiler.set_state("run")
    assert profiler.state() == "run"
    mod = _fit(mx.io.NDArrayIter(x, y, 12), num_epoch=2)       # 4 batches per epoch
    mod.score(mx.io.NDArrayIter(x, y, 12), "acc")               # 4 forward passes
    profiler.set_state("stop")
    table = profiler.dumps()
    stats = json.loads(profiler.dumps(format="json"))
    profiler.dump()
    trace = json.loads(out.read_text())
    names = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X"]
    assert names.count("Module::forward") == 8 + 4
    assert names.count("Module::backward") == 8
    assert names.count("Module::update") == 8
    assert names.count("Module::bind") == 1
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in trace["traceEvents"])
    assert "forward" in trace["otherData"]["measured"]
    # profile_all asks for memory and C API profiling, which mxc cannot give: said, not hidden
    assert set(trace["otherData"]["not_measured"]) >= {"profile_memory", "profile_api"}
    assert "Module::forward" in table and "Not measured: profile_memory" in table
    row = [line for line in table.splitlines() if line.startswith("Module::update ")][0]
    assert int(row.split()[1]) == 8
    fwd = stats["statistics"]["Module"]["Module::forward"]
    assert fwd["count"] == 12 and fwd["min"] <= fwd["avg"] <= fwd["max"]
    assert abs(fwd["avg"] * fwd["count"] - fwd["total"]) < 1e-6


def test_profiler_records_nothing_while_stopped_or_paused(tmp_path, stopped_profiler):
    x, y = _data()
    profiler.set_config(filename=str(tmp_path / "p.json"))
    _fit(mx.io.NDArrayIter(x, y, 12), num_epoch=1)
    assert profiler._PROFILER.events == []
    profiler.set_state("run")
    profiler.pause()
    domain = profiler.Domain("user")
    task = domain.new_task("paused")
    task.start()
    task.stop()
    profiler.resume()
    with domain.new_task("step"):
        pass
    counter = domain.new_counter("seen", 2)
    counter += 3
    counter.decrement()
    domain.new_marker("here").mark()
    profiler.dump()                       # finished: stops and clears
    trace = json.loads((tmp_path / "p.json").read_text())["traceEvents"]
    assert [e["name"] for e in trace if e["ph"] == "X"] == ["step"]
    assert [e["args"]["seen"] for e in trace if e["ph"] == "C"] == [2, 5, 4]
    assert [e["name"] for e in trace if e["ph"] == "i"] == ["here"]
    assert profiler.state() == "stop" and profiler._PROFILER.events == []


def test_profiler_on_gives_the_same_training_as_off(stopped_profiler):
    x, y = _data()
    plain = _fit(mx.io.NDArrayIter(x, y, 12)).get_params()[0]
    profiler.set_state("run")
    timed = _fit(mx.io.NDArrayIter(x, y, 12)).get_params()[0]
    profiler.set_state("stop")
    for name in plain:
        np.testing.assert_allclose(timed[name].asnumpy(), plain[name].asnumpy(),
                                   rtol=1e-5, atol=1e-6)


def test_profiler_refuses_what_it_cannot_do(stopped_profiler):
    with pytest.raises(mx.MXNetError, match="profile_everything"):
        profiler.set_config(profile_everything=True)
    with pytest.raises(mx.MXNetError, match="server"):
        profiler.set_state("run", profile_process="server")
    with pytest.raises(mx.MXNetError, match="'run' or 'stop'"):
        profiler.set_state("go")
    with pytest.raises(mx.MXNetError, match="sort_by"):
        profiler.dumps(sort_by="median")
    with pytest.raises(mx.MXNetError, match="stop\\(\\) without start\\(\\)"):
        profiler.Event("e").stop()


# ----------------------------------------------------------------------------- small things

def test_contrib_amp_imports_and_refuses_mixed_precision():
    from mxc.contrib import amp
    assert mx.contrib.amp is amp and amp.amp is amp
    from mxc.contrib.amp import amp as inner
    assert inner is amp
    for call in (lambda: amp.init(), lambda: amp.init_trainer(None),
                 lambda: amp.convert_model(None, {}, {})):
        with pytest.raises(mx.MXNetError, match="mixed precision"):
            call()
    with pytest.raises(AttributeError, match="onnx"):
        mx.contrib.onnx


def test_util_makedirs(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    mx.util.makedirs(str(target))
    mx.util.makedirs(str(target))               # existing: fine
    assert target.is_dir()
    assert mx.util.get_gpu_count() == mx.context.num_gpus() >= 0


def test_nd_save_dict_and_list_round_trip(tmp_path):
    rng = np.random.RandomState(1)
    arrays = {"arg:w": rng.randn(3, 4).astype(np.float32),
              "aux:mean": rng.randn(5).astype(np.float32),
              "b": np.arange(6, dtype=np.int32).reshape(2, 3)}
    path = str(tmp_path / "d.nd")
    mx.nd.save(path, {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})
    back = mx.nd.load(path)
    assert list(back) == list(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k].asnumpy(), v)
    listed = [rng.randn(2, 2).astype(np.float32), rng.randn(1).astype(np.float32)]
    mx.nd.save(path, [mx.nd.array(v) for v in listed])
    back = mx.nd.load(path)
    assert isinstance(back, list) and len(back) == 2
    for got, want in zip(back, listed):
        np.testing.assert_array_equal(got.asnumpy(), want)
    # MXNet's layout: list magic 0x112, reserved 0, count; names at the end
    raw = open(path, "rb").read()
    assert struct.unpack_from("<QQQ", raw, 0) == (0x112, 0, 2)
    assert struct.unpack_from("<Q", raw, len(raw) - 8)[0] == 0


# ----------------------------------------------------------------------------- user iterators

class UserIter(mx.io.DataIter):
    """An iterator written the way MXNet's examples write them: properties, next() raising
    StopIteration, reset(), and DataBatch objects built by hand."""

    def __init__(self, x, y, batch_size):
        super().__init__(batch_size)
        self.x, self.y = x, y
        self.cursor = 0

    @property
    def provide_data(self):
        return [mx.io.DataDesc("data", (self.batch_size,) + self.x.shape[1:])]

    @property
    def provide_label(self):
        return [mx.io.DataDesc("softmax_label", (self.batch_size,))]

    def reset(self):
        self.cursor = 0

    def __iter__(self):
        return self

    def next(self):
        if self.cursor + self.batch_size > len(self.x):
            raise StopIteration
        rows = slice(self.cursor, self.cursor + self.batch_size)
        self.cursor += self.batch_size
        return mx.io.DataBatch(data=[mx.nd.array(self.x[rows])],
                               label=[mx.nd.array(self.y[rows])], pad=0,
                               provide_data=self.provide_data,
                               provide_label=self.provide_label)

    def __next__(self):
        return self.next()


class GetterIter(mx.io.DataIter):
    """The other MXNet style: iter_next() plus getdata / getlabel / getpad / getindex."""

    def __init__(self, x, y, batch_size):
        super().__init__(batch_size)
        self.x, self.y = x, y
        self.cursor = -batch_size
        self.provide_data = [mx.io.DataDesc("data", (batch_size,) + x.shape[1:])]
        self.provide_label = [mx.io.DataDesc("softmax_label", (batch_size,))]

    def reset(self):
        self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor + self.batch_size <= len(self.x)

    def getdata(self):
        return [mx.nd.array(self.x[self.cursor:self.cursor + self.batch_size])]

    def getlabel(self):
        return [mx.nd.array(self.y[self.cursor:self.cursor + self.batch_size])]

    def getpad(self):
        return 0

    def getindex(self):
        return np.arange(self.cursor, self.cursor + self.batch_size)


@pytest.mark.parametrize("cls", [UserIter, GetterIter])
def test_user_dataiter_in_fit_score_predict_matches_ndarrayiter(cls):
    x, y = _data()
    reference = _fit(mx.io.NDArrayIter(x, y, 12))
    mod = _fit(cls(x, y, 12))
    want, got = reference.get_params()[0], mod.get_params()[0]
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(),
                                   rtol=1e-5, atol=1e-6)
    pred = mod.predict(cls(x, y, 12)).asnumpy()
    np.testing.assert_allclose(pred, reference.predict(mx.io.NDArrayIter(x, y, 12)).asnumpy(),
                               rtol=1e-5, atol=1e-6)
    acc = dict(mod.score(cls(x, y, 12), "acc"))["accuracy"]
    assert acc == pytest.approx(float(np.mean(pred.argmax(axis=1) == y)))
    batch = next(iter(cls(x, y, 12)))
    assert batch.data[0].shape == (12, 6) and batch.label[0].shape == (12,)


# ----------------------------------------------------------------------------- logging

SCRIPT = textwrap.dedent("""
    import gzip, logging, struct, sys
    import numpy as np
    import mxc as mx
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (64, 28, 28)).astype(np.uint8)
    labels = (images.reshape(64, -1).mean(axis=1) > 127.5).astype(np.uint8)
    with gzip.open("img.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 64, 28, 28) + images.tobytes())
    with gzip.open("lbl.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, 64) + labels.tobytes())
    # MNISTIter reports itself before the script sets up logging, as MXNet's examples do
    train = mx.io.MNISTIter(image="img.gz", label="lbl.gz", batch_size=16, flat=True)
    # and so does a Module whose symbol has no label (MXNet warns with warnings.warn)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc0")
    mx.mod.Module(fc, label_names=["softmax_label"])
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="LOG %(message)s")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2,
                                                     name="fc"), name="softmax")
    mod = mx.mod.Module(net)
    mod.fit(train, num_epoch=1, batch_end_callback=mx.callback.Speedometer(16, 2))
""")


def test_epoch_and_speedometer_lines_follow_the_scripts_logging_setup(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("LOG Epoch[0] Batch [0-2]") and "Speed:" in line
               and "samples/sec" in line for line in lines), proc.stdout
    assert any(line.startswith("LOG Epoch[0] Train-accuracy=") for line in lines)
    assert any(line.startswith("LOG Epoch[0] Time cost=") for line in lines)
    assert "not found in symbol.list_arguments()" in proc.stderr


# ----------------------------------------------------------------------------- several contexts

def test_split_batch_follows_the_work_load_list():
    from mxc.module.data_parallel import split_batch
    assert split_batch(8, [1, 3]) == [slice(0, 2), slice(2, 8)]
    assert split_batch(7, [1, 1]) == [slice(0, 4), slice(4, 7)]    # round(3.5) is 4
    assert split_batch(10, [1, 1, 1]) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    with pytest.raises(ValueError, match="empty"):
        split_batch(1, [1, 1])


def test_several_cpu_contexts_sum_slice_gradients_and_slice_outputs():
    rng = np.random.RandomState(3)
    x = rng.randn(8, 5).astype(np.float32)
    w = rng.randn(4, 5).astype(np.float32)
    b = rng.randn(4).astype(np.float32)
    head = rng.randn(8, 4).astype(np.float32)
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    mod = mx.mod.Module(net, label_names=None, context=[mx.cpu(0), mx.cpu(1)],
                        work_load_list=[1, 3])
    mod.bind(data_shapes=[("data", (8, 5))], inputs_need_grad=True)
    mod.init_params()
    mod.set_params({"fc_weight": mx.nd.array(w), "fc_bias": mx.nd.array(b)}, {})
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=True)
    mod.backward([mx.nd.array(head)])
    parts = mod.get_outputs(merge_multi_context=False)[0]
    assert [p.shape for p in parts] == [(2, 4), (6, 4)]
    for part, rows in zip(parts, (slice(0, 2), slice(2, 8))):
        np.testing.assert_allclose(part.asnumpy(), x[rows] @ w.T + b, rtol=1e-5, atol=1e-5)
    grads = mod.get_input_grads(merge_multi_context=False)[0]
    np.testing.assert_allclose(np.concatenate([g.asnumpy() for g in grads]), head @ w,
                               rtol=1e-5, atol=1e-5)
    mod.update()
    # the per-context weight gradients summed, rescaled by 1 / batch size (MXNet's default)
    grad_w = sum(head[rows].T @ x[rows] for rows in (slice(0, 2), slice(2, 8)))
    np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(), w - grad_w / 8,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mod.get_params()[0]["fc_bias"].asnumpy(),
                               b - head.sum(axis=0) / 8, rtol=1e-5, atol=1e-5)


def test_several_contexts_split_along_the_layout_batch_axis_and_merge_states():
    data = mx.sym.Variable("data")
    net = mx.sym.Activation(data=data, act_type="relu", __layout__="TNC")
    mod = mx.mod.Module(net, ("data",), None, context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[mx.io.DataDesc("data", (3, 8, 7), layout="TNC")])
    mod.init_params()
    mod.forward(mx.io.DataBatch(data=[mx.nd.ones((3, 8, 7))], label=None))
    assert [p.shape for p in mod.get_outputs(merge_multi_context=False)[0]] == [(3, 4, 7)] * 2

    h = mx.sym.Variable("h")
    step = mx.sym.tanh(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                             name="fc") + h)
    mod = mx.mod.Module(step, label_names=None, state_names=["h"],
                        context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[("data", (4, 2))], for_training=False)
    mod.init_params(mx.init.One())
    batch = mx.io.DataBatch(data=[mx.nd.ones((4, 2))], label=[])
    mod.set_states(value=0.5)
    mod.forward(batch)
    first = mod.get_outputs(merge_multi_context=False)
    np.testing.assert_allclose(first[0][1].asnumpy(), np.tanh(np.full((2, 3), 2.5)), rtol=1e-6)
    mod.set_states(states=first)                      # per-context parts, merged back
    assert [s.shape for s in mod.get_states(merge_multi_context=False)[0]] == [(2, 3)] * 2
    mod.forward(batch)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                               np.tanh(2.0 + np.tanh(np.full((4, 3), 2.5))), rtol=1e-6)


def test_several_gpu_contexts_are_refused():
    data = mx.sym.Variable("data")
    norm = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name="fc"),
                                name="softmax")
    with pytest.raises(mx.MXNetError, match="CPU contexts only"):
        mx.mod.Module(norm, context=[mx.gpu(0), mx.gpu(1)]).bind(
            data_shapes=[("data", (4, 2))], label_shapes=[("softmax_label", (4,))])


def test_forward_accepts_a_batch_with_data_only():
    import collections
    Batch = collections.namedtuple("Batch", ["data"])
    mod = mx.mod.Module(mx.sym.Variable("data") * 2, label_names=None)
    mod.bind(data_shapes=[("data", (1, 4))])
    mod.init_params()
    mod.forward(Batch([mx.nd.ones((1, 4))]))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.full((1, 4), 2.0))


def test_native_iterators_hand_out_one_array_from_getdata(tmp_path):
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    labels = np.arange(10, dtype=np.float32)
    np.savetxt(tmp_path / "d.csv", rows, delimiter=",")
    np.savetxt(tmp_path / "l.csv", labels, delimiter=",")
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(3,),
                       label_csv=str(tmp_path / "l.csv"), batch_size=4)
    assert it.iter_next()
    assert isinstance(it.getdata(), mx.nd.NDArray)          # MXNet's C++ iterators: one array
    np.testing.assert_array_equal(it.getdata().asnumpy(), rows[:4])
    np.testing.assert_array_equal(it.getlabel().asnumpy(), labels[:4])
    it.reset()
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    np.testing.assert_array_equal(batches[1].data[0].asnumpy(), rows[4:8])
    np.testing.assert_array_equal(batches[2].label[0].asnumpy(), labels[[8, 9, 0, 1]])


def test_group2ctxs_label_input_gradients_and_exec_group_views():
    with mx.AttrScope(ctx_group="dev1"):
        a = mx.sym.Variable("a") * 2
    with mx.AttrScope(ctx_group="dev2"):
        b = mx.sym.Variable("b")
    mod = mx.mod.Module(a + b, context=[mx.cpu(0)], data_names=["a", "b"], label_names=None,
                        group2ctxs={"dev1": mx.cpu(1), "dev2": [mx.cpu(2)]})
    mod.bind(data_shapes=[("a", (2, 3)), ("b", (2, 3))], inputs_need_grad=True)
    mod.init_params()
    mod.forward(mx.io.DataBatch([mx.nd.ones((2, 3)), mx.nd.ones((2, 3))]), is_train=True)
    mod.backward([mx.nd.ones((2, 3))])
    grad_a, grad_b = mod.get_input_grads()
    assert (grad_a.context, grad_b.context) == (mx.cpu(1), mx.cpu(2))
    np.testing.assert_array_equal(grad_a.asnumpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(grad_b.asnumpy(), np.ones((2, 3)))
    two = mx.mod.Module(a + b, context=[mx.cpu(0), mx.cpu(1)], data_names=["a", "b"],
                        label_names=None, group2ctxs={"dev1": mx.cpu(2), "dev2": [mx.cpu(3)]})
    two.bind(data_shapes=[("a", (2, 3)), ("b", (2, 3))], inputs_need_grad=True)   # one: all
    two.init_params()
    two.forward(mx.io.DataBatch([mx.nd.ones((2, 3)), mx.nd.ones((2, 3))]), is_train=True)
    two.backward([mx.nd.ones((2, 3))])
    assert [g.context for g in two.get_input_grads()] == [mx.cpu(2), mx.cpu(3)]
    with pytest.raises(ValueError, match="2 entries for 1 contexts"):
        mx.mod.Module(a + b, data_names=["a", "b"], label_names=None,
                      group2ctxs=[{"dev1": mx.cpu(1)}] * 2).bind(
            data_shapes=[("a", (2, 3)), ("b", (2, 3))])

    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (5, 3))])
    mod.init_params()
    mod.init_optimizer()
    group = mod._exec_group
    assert group.param_names == ["fc_weight", "fc_bias"] and group.batch_size == 5
    assert mod._optimizer.idx2name == dict(enumerate(group.param_names))
    group.param_arrays[1][0][:] = 7.0              # a view: writes reach the module
    np.testing.assert_array_equal(mod.get_params()[0]["fc_bias"].asnumpy(), np.full(4, 7.0))


def test_resize_and_prefetching_iterators_over_a_user_iterator():
    x, y = _data()
    resized = mx.io.ResizeIter(UserIter(x, y, 12), 6)     # 4 batches a pass: wraps around
    batches = list(resized)
    assert len(batches) == 6
    np.testing.assert_array_equal(batches[4].data[0].asnumpy(), x[:12])
    resized.reset()
    assert len(list(resized)) == 6
    reference = _fit(mx.io.NDArrayIter(x, y, 12)).get_params()[0]
    prefetched = _fit(mx.io.PrefetchingIter(UserIter(x, y, 12))).get_params()[0]
    for name in reference:
        np.testing.assert_allclose(prefetched[name].asnumpy(), reference[name].asnumpy(),
                                   rtol=1e-5, atol=1e-6)


def test_profiler_writes_undumped_events_at_exit(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        import mxc as mx
        mx.profiler.set_config(filename="exit.json", profile_all=True)
        mx.profiler.set_state("run")
        net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
        mod = mx.mod.Module(net, label_names=None)
        mod.bind(data_shapes=[("data", (2, 3))], for_training=False)
        mod.init_params()
        mod.forward(mx.io.DataBatch([mx.nd.ones((2, 3))]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    trace = json.loads((tmp_path / "exit.json").read_text())
    assert [e["name"] for e in trace["traceEvents"]] == ["Module::bind", "Module::forward"]


def test_data_only_iterator_with_the_base_class_defaults_predicts():
    x, _ = _data(n=8)

    class DataOnly(mx.io.DataIter):
        def __init__(self):
            super().__init__(4)
            self.cursor = -4
            self.provide_data = [mx.io.DataDesc("data", (4, 6))]
            self.provide_label = []

        def reset(self):
            self.cursor = -4

        def iter_next(self):
            self.cursor += 4
            return self.cursor < 8

        def getdata(self):
            return [mx.nd.array(x[self.cursor:self.cursor + 4])]

    batch = next(iter(DataOnly()))
    assert batch.label is None and batch.pad is None and batch.index is None
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=DataOnly().provide_data, for_training=False)
    mod.init_params(mx.init.One())
    np.testing.assert_allclose(mod.predict(DataOnly()).asnumpy(),
                               np.repeat(x.sum(axis=1, keepdims=True), 2, axis=1), rtol=1e-5)


def test_compiled_optimizer_states_seen_through_updater(tmp_path):
    rng = np.random.RandomState(5)
    x = rng.randn(4, 3).astype(np.float32)
    head = rng.randn(4, 2).astype(np.float32)
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=True)
    mod.backward([mx.nd.array(head)])
    mod.update()
    states = mod._updater.states
    # MXNet's SGD momentum after one step from zero: -lr * rescale_grad * grad
    np.testing.assert_allclose(states[1].asnumpy(), -0.1 * head.sum(axis=0) / 4,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(states[0].asnumpy(), -0.1 * (head.T @ x) / 4,
                               rtol=1e-5, atol=1e-7)
    blob = mod._updater.get_states()
    mod.save_checkpoint(str(tmp_path / "m"), 1, save_optimizer_states=True)
    back = mx.mod.Module.load(str(tmp_path / "m"), 1, load_optimizer_states=True,
                              label_names=None)
    back.bind(data_shapes=[("data", (4, 3))])
    back.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    for index, state in states.items():
        np.testing.assert_array_equal(back._updater.states[index].asnumpy(), state.asnumpy())
    back.update()                                   # moves the states on
    back._updater.set_states(blob)                  # and back to the saved ones
    np.testing.assert_array_equal(back._updater.states[1].asnumpy(), states[1].asnumpy())
    with pytest.raises(mx.MXNetError, match="Module.update"):
        mod._updater(0, mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))


def test_total_exec_bytes_counts_the_compiled_arenas():
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (5, 3))])
    first = mod._total_exec_bytes
    # at least weight + bias, their gradients, the data and the output, in float32
    assert first >= 4 * (2 * (12 + 4) + 15 + 20) and first % 4 == 0
    mod.reshape(data_shapes=[("data", (7, 3))])           # a second executor, kept cached
    second = mod._total_exec_bytes - first
    assert second >= 4 * (2 * (12 + 4) + 21 + 28)
    mod.reshape(data_shapes=[("data", (5, 3))])           # back to the first: nothing new
    assert mod._total_exec_bytes == first + second


def test_merged_outputs_of_several_contexts_are_new_arrays():
    net = mx.sym.Variable("data") * 2
    mod = mx.mod.Module(net, label_names=None, context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[("data", (4, 3))], for_training=False)
    mod.init_params()
    mod.forward(mx.io.DataBatch([mx.nd.ones((4, 3))]))
    first = mod.get_outputs()[0]           # MXNet concatenates the parts: a new array
    mod.forward(mx.io.DataBatch([mx.nd.full((4, 3), 5.0)]))
    np.testing.assert_array_equal(first.asnumpy(), np.full((4, 3), 2.0))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.full((4, 3), 10.0))
