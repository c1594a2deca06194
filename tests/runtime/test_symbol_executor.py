"""Symbol.bind / simple_bind and the Executor API, checked against NumPy."""
import re

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

BATCH, IN, HIDDEN, CLASSES = 4, 6, 5, 3


def mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=HIDDEN, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=CLASSES, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def linear():
    return mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=HIDDEN, name="fc")


def mlp_params(rng):
    return {"data": rng.standard_normal((BATCH, IN)),
            "fc1_weight": rng.standard_normal((HIDDEN, IN)) * 0.5,
            "fc1_bias": rng.standard_normal(HIDDEN) * 0.1,
            "fc2_weight": rng.standard_normal((CLASSES, HIDDEN)) * 0.5,
            "fc2_bias": rng.standard_normal(CLASSES) * 0.1,
            "softmax_label": rng.integers(0, CLASSES, BATCH).astype(np.float64)}


def mlp_reference(p):
    """(probabilities, {argument: gradient}) of the MLP in float64."""
    h_pre = p["data"] @ p["fc1_weight"].T + p["fc1_bias"]
    h = np.maximum(h_pre, 0)
    z = h @ p["fc2_weight"].T + p["fc2_bias"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    dz = prob.copy()
    dz[np.arange(len(dz)), p["softmax_label"].astype(int)] -= 1
    dh = (dz @ p["fc2_weight"]) * (h_pre > 0)
    return prob, {"fc2_weight": dz.T @ h, "fc2_bias": dz.sum(0),
                  "fc1_weight": dh.T @ p["data"], "fc1_bias": dh.sum(0),
                  "data": dh @ p["fc1_weight"], "softmax_label": np.zeros(len(dz))}


def close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def fill(exe, values):
    for name, value in values.items():
        exe.arg_dict[name][:] = value


def test_simple_bind_mlp_forward_backward_match_numpy():
    rng = np.random.default_rng(0)
    p = mlp_params(rng)
    exe = mlp().simple_bind(mx.cpu(), data=(BATCH, IN))
    assert [a.shape for a in exe.arg_arrays] == [(BATCH, IN), (HIDDEN, IN), (HIDDEN,),
                                                 (CLASSES, HIDDEN), (CLASSES,), (BATCH,)]
    fill(exe, p)
    outs = exe.forward(is_train=True)
    prob, grads = mlp_reference(p)
    assert outs is exe.outputs and len(outs) == 1
    close(outs[0], prob)
    close(exe.output_dict["softmax_output"], prob)
    exe.backward()
    for name, want in grads.items():
        close(exe.grad_dict[name], want)
    assert exe.grad_arrays[1] is exe.grad_dict["fc1_weight"]
    # the same output NDArray is refreshed by the next forward
    out = exe.outputs[0]
    exe.arg_dict["data"][:] = 2 * p["data"]
    exe.forward()
    close(out, mlp_reference(dict(p, data=2 * p["data"]))[0])


def test_bind_user_arrays_are_the_executor_arrays():
    rng = np.random.default_rng(1)
    p = mlp_params(rng)
    names = mlp().list_arguments()
    args = [mx.nd.array(p[n]) for n in names]
    grads = [mx.nd.zeros(a.shape) for a in args]
    grads[-1] = None                                  # no gradient for the label
    exe = mlp().bind(mx.cpu(), args=args, args_grad=grads)
    assert all(a is b for a, b in zip(exe.arg_arrays, args))
    assert exe.grad_dict["softmax_label"] is None
    exe.forward(is_train=True)
    close(exe.outputs[0], mlp_reference(p)[0])
    exe.backward()
    _, want = mlp_reference(p)
    for name, g in zip(names[:-1], grads[:-1]):
        close(g, want[name])                          # written into the caller's arrays
    # a write by the caller into an argument is what the next forward reads
    args[1][:] = 0
    exe.forward()
    close(exe.outputs[0], mlp_reference(dict(p, fc1_weight=np.zeros((HIDDEN, IN))))[0])


def test_bind_with_dicts_and_missing_argument():
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s) for s in ((BATCH, IN), (HIDDEN, IN), (HIDDEN,)))
    args = {"fc_bias": mx.nd.array(b), "data": mx.nd.array(x), "fc_weight": mx.nd.array(w)}
    gw = mx.nd.zeros((HIDDEN, IN))
    exe = linear().bind(mx.cpu(), args=args, args_grad={"fc_weight": gw})
    assert exe.grad_dict["data"] is None and exe.grad_dict["fc_bias"] is None
    close(exe.forward()[0], x @ w.T + b)
    og = rng.standard_normal((BATCH, HIDDEN))
    exe.backward(mx.nd.array(og))
    close(gw, og.T @ x)
    with pytest.raises(MXNetError, match="fc_weight"):
        linear().bind(mx.cpu(), args={"data": args["data"], "fc_bias": args["fc_bias"]})
    with pytest.raises(MXNetError, match="3 names"):
        linear().bind(mx.cpu(), args=[args["data"]])


def test_backward_out_grads_on_a_non_loss_head():
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s) for s in ((BATCH, IN), (HIDDEN, IN), (HIDDEN,)))
    exe = linear().simple_bind(mx.cpu(), data=(BATCH, IN))
    exe.copy_params_from({"fc_weight": mx.nd.array(w), "fc_bias": mx.nd.array(b)})
    exe.forward(is_train=True, data=mx.nd.array(x))
    close(exe.outputs[0], x @ w.T + b)
    og = rng.standard_normal((BATCH, HIDDEN))
    exe.backward(out_grads=[mx.nd.array(og)])
    close(exe.grad_dict["fc_weight"], og.T @ x)
    close(exe.grad_dict["fc_bias"], og.sum(0))
    close(exe.grad_dict["data"], og @ w)
    exe.backward(out_grads={"fc_output": mx.nd.array(2 * og)})
    close(exe.grad_dict["data"], 2 * og @ w)
    with pytest.raises(MXNetError, match="out_grads"):
        exe.backward(out_grads=mx.nd.zeros((BATCH + 1, HIDDEN)))


def test_grad_req_add_accumulates_and_null_has_no_gradient():
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(s) for s in ((BATCH, IN), (HIDDEN, IN), (HIDDEN,)))
    og = rng.standard_normal((BATCH, HIDDEN))
    exe = linear().simple_bind(mx.cpu(), grad_req={"fc_weight": "add", "fc_bias": "write"},
                               data=(BATCH, IN))
    assert exe.grad_dict["data"] is None
    fill(exe, {"data": x, "fc_weight": w, "fc_bias": b})
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(mx.nd.array(og))
    close(exe.grad_dict["fc_weight"], 2 * og.T @ x)
    close(exe.grad_dict["fc_bias"], og.sum(0))      # 'write' overwrites
    exe.grad_dict["fc_weight"][:] = 0                # the caller resets an 'add' gradient
    exe.forward(is_train=True)
    exe.backward(mx.nd.array(og))
    close(exe.grad_dict["fc_weight"], og.T @ x)
    # the same with the caller's own gradient array
    gw = mx.nd.zeros((HIDDEN, IN))
    args = [mx.nd.array(v) for v in (x, w, b)]
    exe = linear().bind(mx.cpu(), args, args_grad={"fc_weight": gw}, grad_req="add")
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(mx.nd.array(og))
    close(gw, 2 * og.T @ x)
    nulls = linear().simple_bind(mx.cpu(), grad_req="null", data=(BATCH, IN))
    assert nulls.grad_arrays == [None, None, None]
    # one library serves every grad_req that asks for a gradient; with none asked for, the
    # inference library (no gradient buffers) runs, and backward changes nothing
    # (small graphs keep the training library: a second compile costs more than it saves)
    trained = linear().simple_bind(mx.cpu(), data=(BATCH, IN))
    no_grads = linear().bind(mx.cpu(), args)         # no args_grad: nothing asked for
    assert exe._exec.built.key == trained._exec.built.key == nulls._exec.built.key
    assert no_grads._exec.built.key == nulls._exec.built.key
    nulls.forward(is_train=True)
    nulls.backward(mx.nd.array(og))
    assert nulls.grad_arrays == [None, None, None]


def test_no_gradient_reaching_an_argument_binds_the_inference_library(monkeypatch):
    # MXNet's zero-gradient propagation: behind stop_gradient nothing needs a gradient, so
    # no gradient buffers or saved activations are allocated, and 'write' gradients are zeros
    # (for graphs past a size; this one is small, so the threshold is lowered)
    from mxc import symbol_executor
    monkeypatch.setattr(symbol_executor, "INFERENCE_LIBRARY_BYTES", 0)
    data = mx.sym.Variable("data")
    net = data
    for _ in range(4):
        net = net * net
    shape = (4, 3, 8, 8)
    full = net.simple_bind(mx.cpu(), data=shape)
    stopped = mx.sym.stop_gradient(net).simple_bind(mx.cpu(), data=shape)
    nulls = net.simple_bind(mx.cpu(), data=shape, grad_req="null")
    x = np.random.default_rng(0).uniform(0.5, 1.0, shape)
    stopped.grad_dict["data"][:] = 7
    stopped.forward(is_train=True, data=x)
    stopped.backward()
    close(stopped.outputs[0], x ** 16)
    assert np.all(stopped.grad_dict["data"].asnumpy() == 0)
    memory = lambda e: float(re.search(r"activations ([0-9.]+) MiB", e.debug_str()).group(1))
    assert memory(stopped) == memory(nulls) < memory(full)


def test_forward_kwargs_copy_into_the_argument_arrays():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((BATCH, IN)), rng.standard_normal((HIDDEN, IN))
    exe = linear().simple_bind(mx.cpu(), grad_req="null", data=(BATCH, IN))
    exe.arg_dict["fc_weight"][:] = w
    data = exe.arg_dict["data"]
    close(exe.forward(data=x)[0], x @ w.T)
    close(data, x)
    close(exe.forward(data=mx.nd.array(-x))[0], -x @ w.T)
    with pytest.raises(MXNetError, match="shape"):
        exe.forward(data=np.zeros((BATCH + 1, IN)))
    with pytest.raises(MXNetError, match="unknown argument 'nope'"):
        exe.forward(nope=np.zeros(2))
    # as in MXNet, backward before any forward runs over the bound buffers: an operator
    # whose gradient reads no forward value (here FullyConnected's weight gradient reads
    # the bound data) gives the right gradient
    fresh = linear().simple_bind(mx.cpu(), data=(BATCH, IN))
    fresh.arg_dict["data"][:] = 1
    fresh.backward(mx.nd.ones((BATCH, HIDDEN)))
    close(fresh.grad_dict["fc_weight"], np.full((HIDDEN, IN), BATCH))


def test_copy_params_from_and_extra_params():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((HIDDEN, IN))
    exe = linear().simple_bind(mx.cpu(), grad_req="null", data=(BATCH, IN))
    exe.copy_params_from({"fc_weight": mx.nd.array(w)})
    close(exe.arg_dict["fc_weight"], w)
    with pytest.raises(ValueError, match='"bogus"'):
        exe.copy_params_from({"bogus": mx.nd.zeros(1)})
    exe.copy_params_from({"bogus": mx.nd.zeros(1), "fc_bias": mx.nd.ones(HIDDEN)},
                         allow_extra_params=True)
    close(exe.arg_dict["fc_bias"], np.ones(HIDDEN))
    with pytest.raises(MXNetError, match="fc_weight"):
        exe.copy_params_from({"fc_weight": mx.nd.zeros((2, 2))})


def test_reshape_keeps_parameters_and_shares_memory():
    rng = np.random.default_rng(7)
    p = mlp_params(rng)
    exe = mlp().simple_bind(mx.cpu(), data=(BATCH, IN))
    fill(exe, p)
    small = exe.reshape(data=(2, IN), softmax_label=(2,))
    assert small.arg_dict["fc1_weight"] is exe.arg_dict["fc1_weight"]
    assert small.arg_dict["data"].shape == (2, IN)
    small.forward(is_train=True)
    part = {k: (v[:2] if k in ("data", "softmax_label") else v) for k, v in p.items()}
    prob, grads = mlp_reference(part)
    close(small.outputs[0], prob)
    close(exe.outputs[0].asnumpy()[:2], prob)        # the front of exe's memory
    small.backward()
    # gradients land in the arrays shared with the first executor
    close(exe.grad_dict["fc2_bias"], grads["fc2_bias"])
    close(exe.grad_dict["fc1_weight"], grads["fc1_weight"])
    with pytest.raises(MXNetError, match="allow_up_sizing"):
        exe.reshape(data=(BATCH + 2, IN), softmax_label=(BATCH + 2,))
    with pytest.raises(MXNetError, match="partial_shaping"):
        exe.reshape(data=(2, IN))
    big = exe.reshape(allow_up_sizing=True, data=(BATCH + 2, IN), softmax_label=(BATCH + 2,))
    big.arg_dict["data"][:] = 0
    close(exe.arg_dict["data"], p["data"])
    close(big.arg_dict["fc2_weight"], p["fc2_weight"])


def test_shared_exec_shares_parameter_arrays():
    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s) for s in ((BATCH, IN), (HIDDEN, IN), (HIDDEN,)))
    first = linear().simple_bind(mx.cpu(), data=(BATCH, IN))
    fill(first, {"fc_weight": w, "fc_bias": b})
    second = linear().simple_bind(mx.cpu(), data=(2, IN), shared_exec=first,
                                  shared_arg_names=["fc_weight", "fc_bias"])
    assert second.arg_dict["fc_weight"] is first.arg_dict["fc_weight"]
    assert second.grad_dict["fc_bias"] is first.grad_dict["fc_bias"]
    close(second.forward(data=x[:2])[0], x[:2] @ w.T + b)
    first.arg_dict["fc_bias"][:] = 0                 # seen by the sharing executor
    close(second.forward(data=x[:2])[0], x[:2] @ w.T)
    buffer = {}
    third = linear().simple_bind(mx.cpu(), data=(BATCH, IN), shared_buffer=buffer)
    assert buffer["fc_weight"] is third.arg_dict["fc_weight"]
    fourth = linear().simple_bind(mx.cpu(), data=(BATCH, IN), shared_buffer=buffer)
    assert fourth.arg_dict["fc_weight"] is third.arg_dict["fc_weight"]


def test_monitor_callback_sees_internal_outputs():
    rng = np.random.default_rng(9)
    p = mlp_params(rng)
    exe = mlp().simple_bind(mx.cpu(), data=(BATCH, IN))
    weight = exe.arg_dict["fc1_weight"]
    fill(exe, p)
    seen = {}
    exe.set_monitor_callback(lambda name, arr: seen.__setitem__(name, arr.asnumpy()))
    exe.forward(is_train=True)
    pre = p["data"] @ p["fc1_weight"].T + p["fc1_bias"]
    close(seen["fc1_output"], pre)
    close(seen["relu1_output"], np.maximum(pre, 0))
    assert "fc1_weight" not in seen
    close(exe.outputs[0], mlp_reference(p)[0])
    exe.backward()
    close(exe.grad_dict["fc1_weight"], mlp_reference(p)[1]["fc1_weight"])
    assert exe.arg_dict["fc1_weight"] is weight
    assert "fc1" in exe.debug_str()


def test_bad_bind_arguments_are_clear_errors():
    with pytest.raises(MXNetError, match="grad_req for 'data'"):
        linear().simple_bind(mx.cpu(), grad_req={"data": "sometimes"}, data=(BATCH, IN))
    # as MXNet, a grad_req dict is read by argument name: other keys are ignored
    exe = linear().simple_bind(mx.cpu(), grad_req={"nope": "write", "fc_bias": "write"},
                               data=(BATCH, IN))
    assert exe.grad_dict["fc_weight"] is None and exe.grad_dict["fc_bias"] is not None
    with pytest.raises(MXNetError, match="NDArray"):
        linear().bind(mx.cpu(), args=[np.zeros((BATCH, IN))] * 3)
    with pytest.raises(MXNetError, match="storage"):
        linear().simple_bind(mx.cpu(), stype_dict={"data": "sparse"}, data=(BATCH, IN))
    with pytest.raises(MXNetError, match="'fc'.*weight.*\\(5, 2\\)"):
        linear().bind(mx.cpu(), args=[mx.nd.zeros((BATCH, IN)), mx.nd.zeros((HIDDEN, 2)),
                                      mx.nd.zeros(HIDDEN)])


def test_group2ctx_places_the_arrays_of_each_group():
    with mx.AttrScope(ctx_group="first"):
        hidden = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=HIDDEN, name="fc")
    with mx.AttrScope(ctx_group="second"):
        net = mx.sym.FullyConnected(hidden, num_hidden=CLASSES, name="out")
    groups = {"first": mx.cpu(1), "second": mx.cpu(2)}
    exe = net.simple_bind(mx.cpu(0), group2ctx=groups, data=(BATCH, IN))
    for name, arr in exe.arg_dict.items():
        assert arr.context == groups["second" if name.startswith("out") else "first"], name
    assert exe.grad_dict["out_weight"].context == mx.cpu(2)
    with pytest.raises(MXNetError, match="group2ctx"):
        net.simple_bind(mx.cpu(0), group2ctx={"first": mx.gpu(0)}, data=(BATCH, IN))


def test_device_memory_sees_user_writes_and_returns_gradients(monkeypatch, tmp_path):
    """On a GPU the arena lives on the device behind a host mirror: writes into the arrays
    handed out must reach the device before each call, results must come back after it
    (run on the stand-in device library of test_executor_cuda, so no GPU is needed)."""
    from test_executor_cuda import FakeDevice
    from mxc import symbol_executor
    from mxc.compiler import build, target
    from mxc.compiler.plan import make_plan
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                                     name="fc"), name="softmax")
    shapes = {"data": (2, 4)}
    fake = FakeDevice(make_plan(net, shapes, grad_req={n: "write"
                                                       for n in net.list_arguments()}))
    monkeypatch.setattr(target.CudaTarget, "build", lambda self, rendered, name="mxc",
                        root=None: build.Built(fake.ffi, fake, "k" * 64, "/nowhere", False,
                                               0.0, self))
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MXC_CUDA_ARCH", "90")
    monkeypatch.setattr(symbol_executor, "_device_id", lambda ctx: ctx.device_id)
    exe = net.simple_bind(mx.gpu(0), grad_req={"fc_weight": "write", "fc_bias": "add"},
                          **shapes)
    data = np.arange(8.0).reshape(2, 4)
    exe.arg_dict["fc_bias"][:] = 0.5
    out = exe.forward(is_train=True, data=data)[0]
    close(out, np.full((2, 3), data.sum() + 0.5))   # the stand-in's forward
    exe.arg_dict["data"][:] = 1                     # a plain write into a handed-out array
    exe.forward(is_train=True)
    close(out, np.full((2, 3), 8.5))
    exe.backward()
    exe.backward()
    close(exe.grad_dict["fc_weight"], np.ones((3, 4)))
    close(exe.grad_dict["fc_bias"], 2 * np.ones(3))   # 'add' over two backward calls
    assert exe.grad_dict["data"] is None


def test_integer_typed_arguments_and_outputs_are_integer_arrays():
    x = mx.sym.Variable("x", dtype=np.int32)
    exe = mx.sym.Cast(x * 2, dtype="int32").simple_bind(mx.cpu(), x=(2, 3), grad_req="null")
    assert exe.arg_arrays[0].dtype == np.int32 and exe.outputs[0].dtype == np.int32
    exe.arg_arrays[0][:] = np.array([[1, -2, 3], [40, 5, 6]])
    out = exe.forward()[0]
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.asnumpy(), [[2, -4, 6], [80, 10, 12]])
    y = mx.sym.Cast(mx.sym.Variable("y"), dtype="int32")
    exe = y.simple_bind(mx.cpu(), y=(3,), grad_req="null")
    np.testing.assert_array_equal(exe.forward(y=np.array([1.7, -2.2, 3.0]))[0].asnumpy(),
                                  [1, -2, 3])


def test_symbolic_sweep_compiles_each_shape_once(tmp_path, monkeypatch):
    # each new shape compiles once; binding it again (with or without gradients, as MXNet's
    # test_bind does) loads the same library
    from mxc.compiler import target
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    compiled = []
    real_compile = target.CTarget.compile

    def counting(self, folder, name, rendered, key, *args, **kwargs):
        compiled.append(key)
        return real_compile(self, folder, name, rendered, key, *args, **kwargs)
    monkeypatch.setattr(target.CTarget, "compile", counting)
    lhs, rhs = mx.sym.Variable("lhs"), mx.sym.Variable("rhs")
    sym = lhs * rhs + lhs
    shapes = [(2, 3), (3, 2), (4, 5), (2, 3)]
    for shape in shapes:
        args = [mx.nd.array(np.ones(shape)), mx.nd.array(np.full(shape, 2.0))]
        grads = [mx.nd.zeros(shape), mx.nd.zeros(shape)]
        for exe in (sym.bind(mx.cpu(), args, args_grad=grads), sym.bind(mx.cpu(), args)):
            np.testing.assert_array_equal(exe.forward()[0].asnumpy(), np.full(shape, 3.0))
    assert len(compiled) == len(set(compiled)) == 3


def test_a_gradient_asked_only_of_index_inputs_trains_nothing():
    # take's indices take no gradient: asking for theirs alone needs no backward pass
    a, idx = mx.sym.Variable("a"), mx.sym.Variable("idx")
    exe = mx.sym.take(a, idx).simple_bind(mx.cpu(), a=(4, 3), idx=(2,),
                                          grad_req={"a": "null", "idx": "write"})
    assert not exe._trains
    exe.grad_dict["idx"][:] = 5
    exe.forward(is_train=True, a=np.arange(12.0).reshape(4, 3), idx=np.array([3, 1]))
    exe.backward(mx.nd.ones((2, 3)))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), [[9, 10, 11], [3, 4, 5]])
    assert not exe.grad_dict["idx"].asnumpy().any()
