"""float16 executors: float16 arrays at the API, float32 computation in the library."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import target

F16 = np.float16


def _net(hidden):
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=hidden, name="fc")
    act = mx.sym.Activation(fc, act_type="tanh", name="act")
    return mx.sym.SoftmaxOutput(act, name="softmax")


def _reference(x, w, b, label):
    """Softmax of tanh(x w^T + b) and the gradients of SoftmaxOutput's loss, in float32 from
    the float16 values, rounded to float16 at the end."""
    x, w, b = (v.astype(np.float32) for v in (x, w, b))
    t = np.tanh(x @ w.T + b)
    e = np.exp(t - t.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(w.shape[0], dtype=np.float32)[label.astype(int)]
    dz = (p - onehot) * (1 - t * t)
    grads = {"data": dz @ w, "fc_weight": dz.T @ x, "fc_bias": dz.sum(axis=0)}
    return p.astype(F16), {k: v.astype(F16) for k, v in grads.items()}


def _close(got, want, what):
    assert got.dtype == F16, what
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3,
                               atol=2e-3, err_msg=what)


def _fill(ex, rng, batch, hidden):
    values = {"data": rng.uniform(-1, 1, ex.arg_dict["data"].shape).astype(F16),
              "fc_weight": rng.uniform(-1, 1, ex.arg_dict["fc_weight"].shape).astype(F16),
              "fc_bias": rng.uniform(-0.5, 0.5, (hidden,)).astype(F16),
              "softmax_label": rng.randint(0, hidden, batch).astype(F16)}
    for name, value in values.items():
        ex.arg_dict[name][:] = value
    return values


def test_simple_bind_float16_matches_float32_numpy_rounded():
    rng = np.random.RandomState(0)
    sym = _net(4)
    arg_types, out_types, _ = sym.infer_type(data=F16)
    assert all(np.dtype(t) == F16 for t in arg_types + out_types)
    ex = sym.simple_bind(mx.cpu(), type_dict={"data": F16}, data=(3, 6))
    v = _fill(ex, rng, 3, 4)
    out = ex.forward(is_train=True)[0]
    ex.backward()
    p, grads = _reference(v["data"], v["fc_weight"], v["fc_bias"], v["softmax_label"])
    _close(out.asnumpy(), p, "output")
    assert ex.outputs[0].dtype == F16 and ex.output_dict["softmax_output"].dtype == F16
    for name, want in grads.items():
        _close(ex.grad_dict[name].asnumpy(), want, "gradient of %s" % name)
    for name, arr in list(ex.arg_dict.items()) + list(ex.grad_dict.items()):
        assert arr.dtype == F16, name
    # a second forward with new data through forward's keywords reads the new values
    x2 = rng.uniform(-1, 1, (3, 6)).astype(F16)
    out = ex.forward(is_train=False, data=mx.nd.array(x2, dtype=F16))[0]
    _close(out.asnumpy(), _reference(x2, v["fc_weight"], v["fc_bias"],
                                     v["softmax_label"])[0], "second output")


def test_bind_over_float16_arrays_writes_them_and_adds_gradients():
    rng = np.random.RandomState(1)
    sym = _net(4)
    values = {"data": rng.uniform(-1, 1, (3, 6)), "fc_weight": rng.uniform(-1, 1, (4, 6)),
              "fc_bias": rng.uniform(-0.5, 0.5, 4), "softmax_label": np.array([0, 3, 1])}
    args = {k: mx.nd.array(v, dtype=F16) for k, v in values.items()}
    grads = {k: mx.nd.zeros(a.shape, dtype=F16) for k, a in args.items()
             if k != "softmax_label"}
    ex = sym.bind(mx.cpu(), args, args_grad=grads, grad_req="add")
    assert ex.outputs[0].dtype == F16
    for _ in range(2):
        ex.forward(is_train=True)
        ex.backward()
    p, want = _reference(*(args[k].asnumpy() for k in
                           ("data", "fc_weight", "fc_bias", "softmax_label")))
    _close(ex.outputs[0].asnumpy(), p, "output")
    for name, arr in grads.items():
        assert ex.grad_dict[name] is arr
        _close(arr.asnumpy(), 2 * want[name].astype(np.float32), "added gradient of " + name)


def test_float16_and_float32_binds_share_one_library(tmp_path, monkeypatch):
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path / "cache"))
    compiles = []
    real = target.CTarget.compile

    def counted(self, *args, **kwargs):
        compiles.append(1)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(target.CTarget, "compile", counted)
    sym = _net(7)                    # shapes no other test binds: the first bind compiles
    half = sym.simple_bind(mx.cpu(), type_dict={"data": F16}, data=(5, 11))
    assert len(compiles) == 1
    full = sym.simple_bind(mx.cpu(), data=(5, 11))
    assert len(compiles) == 1
    assert half.arg_dict["data"].dtype == F16 and full.arg_dict["data"].dtype == np.float32
    rng = np.random.RandomState(2)
    v = _fill(half, rng, 5, 7)
    for name, value in v.items():
        full.arg_dict[name][:] = value.astype(np.float32)
    a = half.forward()[0].asnumpy()
    b = full.forward()[0].asnumpy()
    np.testing.assert_array_equal(a, b.astype(F16))


def test_reshape_and_monitor_keep_float16():
    sym = _net(3)
    ex = sym.simple_bind(mx.cpu(), type_dict={"data": F16}, data=(4, 5))
    ex.arg_dict["fc_weight"][:] = np.full((3, 5), 0.25, F16)
    small = ex.reshape(data=(2, 5), softmax_label=(2,))
    assert all(a.dtype == F16 for a in small.arg_arrays + small.outputs)
    seen = {}
    small.set_monitor_callback(lambda name, arr: seen.setdefault(name, arr.dtype))
    small.arg_dict["data"][:] = np.ones((2, 5), F16)
    out = small.forward()[0].asnumpy()
    np.testing.assert_allclose(out.astype(np.float32), np.full((2, 3), 1 / 3), rtol=1e-3)
    assert seen and all(t == F16 for t in seen.values())


def test_mixed_int_and_float_types_are_refused_by_name():
    sym = _net(3)
    with pytest.raises(MXNetError, match="fc"):
        sym.simple_bind(mx.cpu(), type_dict={"data": F16, "fc_weight": np.int32},
                        data=(2, 5))
    with pytest.raises(MXNetError, match="fc"):
        sym.simple_bind(mx.cpu(), type_dict={"data": F16, "fc_weight": np.float32},
                        data=(2, 5))


def test_float16_index_argument_keeps_exact_values():
    """An index-only argument of a float16 executor is held in the arena's float32, so index
    values past float16's exact integers (2048) stay exact."""
    idx = mx.sym.Variable("idx")
    emb = mx.sym.Embedding(idx, input_dim=3000, output_dim=2, dtype="float16", name="emb")
    ex = emb.simple_bind(mx.cpu(), type_dict={"idx": np.int32}, idx=(2,))
    weight = np.zeros((3000, 2), F16)
    weight[2049] = [1, 2]
    ex.arg_dict["emb_weight"][:] = weight
    ex.arg_dict["idx"][:] = np.array([2049, 0])
    out = ex.forward()[0]
    assert out.dtype == F16 and ex.arg_dict["emb_weight"].dtype == F16
    np.testing.assert_array_equal(out.asnumpy(), [[1, 2], [0, 0]])


@pytest.mark.parametrize("cast", ["Cast", "amp_cast"])
def test_cast_to_float16_output_of_a_float32_executor_rounds_as_numpy(cast):
    x = mx.sym.Variable("x")
    sym = getattr(mx.sym, cast)(x, dtype="float16")
    values = np.array([0.1, 1 / 3, 65504.0, 70000.0, -2.0 ** -20, 1e-8, 2049.0, np.nan],
                      np.float32)
    arg = mx.nd.array(values, dtype=np.float32)
    ex = sym.bind(mx.cpu(), {"x": arg})
    assert ex.arg_arrays[0] is arg and ex.outputs[0].dtype == F16
    ex.forward()
    np.testing.assert_array_equal(ex.outputs[0].asnumpy(), values.astype(np.float64)
                                  .astype(F16))


def test_module_with_float16_data_hands_out_float16():
    data = mx.sym.Variable("data")
    sym = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    mod = mx.mod.Module(sym, ("data",), None)
    mod.bind(data_shapes=[mx.io.DataDesc("data", (2, 4), F16)], inputs_need_grad=True)
    mod.init_params(mx.init.Constant(0.5))         # the weight; a bias starts at 0
    x = np.arange(8, dtype=F16).reshape(2, 4) / 8
    mod.forward(mx.io.DataBatch(data=[mx.nd.array(x, dtype=F16)], label=None))
    mod.backward([mx.nd.ones((2, 3), dtype=F16)])
    out, = mod.get_outputs()
    grad, = mod.get_input_grads()
    assert out.dtype == F16 and grad.dtype == F16
    _close(out.asnumpy(), (x.astype(np.float32) @ np.full((4, 3), 0.5)).astype(F16),
           "module output")
    _close(grad.asnumpy(), np.full((2, 4), 1.5, F16), "module input gradient")
