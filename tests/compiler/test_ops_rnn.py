"""The fused RNN operator: forward against the registry's NumPy reference (every mode, one and
two layers, one and two directions, with and without state outputs; float64 and float32),
against closed forms for single steps, gradients of data, parameters and states against
float64 central differences, the packed parameter length, refusals, dropout between layers,
and the CUDA build with nvcc."""
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda, ops
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered
from mxc.executor import Executor

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

MODES = ("rnn_relu", "rnn_tanh", "lstm", "gru")
T, N, I, H = 3, 2, 4, 3


def rnn(name, mode, **kw):
    return mx.sym.RNN(mx.sym.Variable(name + "_data"), state_size=kw.pop("state_size", H),
                      mode=mode, name=name, **kw)


def _configs():
    out = []
    for mode in MODES:
        for layers in (1, 2):
            for bi in (False, True):
                for so in (False, True):
                    out.append(dict(mode=mode, num_layers=layers, bidirectional=bi,
                                    state_outputs=so))
                    if mode == "lstm":                  # LSTMP: h projected to 2 of 3
                        out.append(dict(out[-1], projection_size=2))
    return out


def _bind_values(sym, shapes, rng, dtype, low=-0.7, high=0.7):
    ex = Executor(sym, shapes, grad_req={k: "null" for k in sym.list_arguments()},
                  dtype=dtype, for_training=False)
    values = {}
    for k, arr in ex.arg_arrays.items():
        values[k] = rng.uniform(low, high, arr.shape)
        arr[...] = values[k]
    return ex, values


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_forward_matches_the_reference_in_every_configuration(dtype, tol):
    """40 configurations in one graph (one compile per dtype); every visible output against
    the registry's NumPy reference, which mx.nd.RNN runs."""
    configs = _configs()
    heads = [rnn("r%d" % i, **c) for i, c in enumerate(configs)]
    group = mx.sym.Group(heads)
    shapes = {"r%d_data" % i: (T, N, I) for i in range(len(configs))}
    ex, values = _bind_values(group, shapes, np.random.RandomState(0), dtype)
    ex.forward(False)
    got = iter(ex.outputs)
    op = ops.get("RNN")
    for i, c in enumerate(configs):
        p = op.parse_params(dict(c, state_size=H))
        args = [values["r%d_%s" % (i, s)] for s in op.input_names(p)]
        want = op.reference(p, args)[:op.num_visible(p)]
        assert len(want) == (1 + (2 if c["mode"] == "lstm" else 1) * c["state_outputs"])
        for w in want:
            g = next(got)
            assert g.shape == w.shape, c
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=str(c))
    assert next(got, None) is None


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_single_steps_match_closed_forms():
    """One step, one unit, one feature: each mode's cell written out by hand (MXNet's gate
    order, gru's candidate with r applied to W_hn h + b_hn)."""
    x, h0, c0 = 0.3, -0.4, 0.25
    shapes = {"%s_data" % m: (1, 1, 1) for m in MODES}
    group = mx.sym.Group([rnn(m, m, state_size=1, num_layers=1, state_outputs=True)
                          for m in MODES])
    ex = Executor(group, shapes, grad_req={k: "null" for k in group.list_arguments()},
                  dtype="float64", for_training=False)
    rng = np.random.RandomState(5)
    params = {}
    for m in MODES:
        ex.arg_arrays[m + "_data"][...] = x
        ex.arg_arrays[m + "_state"][...] = h0
        if m == "lstm":
            ex.arg_arrays[m + "_state_cell"][...] = c0
        params[m] = rng.uniform(-1, 1, ex.arg_arrays[m + "_parameters"].shape)
        ex.arg_arrays[m + "_parameters"][...] = params[m]
    ex.forward(False)
    outs = iter(ex.outputs)
    for m in MODES:
        w = params[m]
        G = len(w) // 4                    # [W_i2h (G), W_h2h (G), b_i2h (G), b_h2h (G)]
        wi, wh, bi, bh = w[:G], w[G:2 * G], w[2 * G:3 * G], w[3 * G:]
        pre = [wi[g] * x + bi[g] + wh[g] * h0 + bh[g] for g in range(G)]
        if m == "rnn_relu":
            h, c = max(pre[0], 0.0), None
        elif m == "rnn_tanh":
            h, c = math.tanh(pre[0]), None
        elif m == "lstm":
            i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), math.tanh(pre[2]), _sigmoid(pre[3])
            c = f * c0 + i * g
            h = o * math.tanh(c)
        else:
            r, z = _sigmoid(pre[0]), _sigmoid(pre[1])
            n = math.tanh(wi[2] * x + bi[2] + r * (wh[2] * h0 + bh[2]))
            h, c = (1 - z) * n + z * h0, None
        assert next(outs).item() == pytest.approx(h, abs=1e-14), m
        assert next(outs).item() == pytest.approx(h, abs=1e-14), m
        if c is not None:
            assert next(outs).item() == pytest.approx(c, abs=1e-14), m


@pytest.mark.parametrize("mode", MODES + ("lstmp",))
def test_gradients_match_central_differences(mode):
    """Two bidirectional layers with state outputs: data, parameters, state (and state_cell)
    against float64 central differences of sum(outputs * random projections)."""
    extra = dict(projection_size=2, state_size=3) if mode == "lstmp" else dict(state_size=2)
    sym = rnn("g", "lstm" if mode == "lstmp" else mode, num_layers=2, bidirectional=True,
              state_outputs=True, **extra)
    rng = np.random.RandomState(11)
    shapes = sym.infer_shape(g_data=(3, 2, 3))[0]
    loc = {k: rng.uniform(-0.8, 0.8, s) for k, s in zip(sym.list_arguments(), shapes)}
    if mode == "rnn_relu":                        # keep pre-activations away from relu's kink
        loc["g_parameters"] = np.abs(loc["g_parameters"]) * 0.5
        loc["g_data"] = np.abs(loc["g_data"])
    tu.check_numeric_gradient(sym, loc, numeric_eps=1e-5, rtol=1e-5, atol=1e-8)


def test_gradients_with_dropout_clipping_and_partial_requests():
    """gru with dropout between three layers (the mask is fixed by the generator's state, which
    the checker restores for every evaluation); lstm with cell clipping in range and out; only
    the data's gradient requested."""
    rng = np.random.RandomState(12)
    sym = rnn("d", "gru", num_layers=3, p=0.4, state_size=2)
    shapes = sym.infer_shape(d_data=(3, 2, 2))[0]
    loc = {k: rng.uniform(-0.8, 0.8, s) for k, s in zip(sym.list_arguments(), shapes)}
    tu.check_numeric_gradient(sym, loc, numeric_eps=1e-5, rtol=1e-5, atol=1e-8)
    sym = rnn("c", "lstm", num_layers=1, bidirectional=True, state_outputs=True,
              lstm_state_clip_min=-0.3,
              lstm_state_clip_max=0.35, state_size=2)
    shapes = sym.infer_shape(c_data=(4, 2, 2))[0]
    loc = {k: rng.uniform(-1, 1, s) for k, s in zip(sym.list_arguments(), shapes)}
    loc["c_parameters"] *= 2
    tu.check_numeric_gradient(sym, loc, numeric_eps=1e-6, rtol=1e-5, atol=1e-8)
    ex = Executor(sym, {k: v.shape for k, v in loc.items()}, dtype="float64",
                  grad_req={"c_data": "write"})
    for k, v in loc.items():
        ex.arg_arrays[k][...] = v
    ex.forward(True)
    cells = ex.outputs[2]
    assert cells.min() >= -0.3 and cells.max() <= 0.35
    assert np.isclose(np.abs(cells), [0.3, 0.35]).any()    # some states were clipped
    sym = rnn("o", "lstm", num_layers=2, state_size=2)
    shapes = sym.infer_shape(o_data=(2, 3, 2))[0]
    loc = {k: rng.uniform(-1, 1, s) for k, s in zip(sym.list_arguments(), shapes)}
    tu.check_numeric_gradient(sym, loc, grad_nodes=["o_data"], numeric_eps=1e-6, rtol=1e-5,
                              atol=1e-8)


def test_dropout_between_layers_trains_only():
    """Inference ignores p; training drops whole entries of layer 0's output (the output
    differs, and mask entries are 0 or 1/(1-p)); p=0 is the same network."""
    sym = rnn("q", "rnn_tanh", num_layers=2, p=0.5)
    ex, values = _bind_values(sym, {"q_data": (4, 3, 2)}, np.random.RandomState(2), "float64")
    ex.forward(False)
    op = ops.get("RNN")
    p = op.parse_params(dict(mode="rnn_tanh", num_layers=2, state_size=H, p=0.5))
    ref = op.reference(p, [values["q_" + s] for s in ("data", "parameters", "state")])[0]
    np.testing.assert_allclose(ex.outputs[0], ref, rtol=1e-12, atol=1e-12)
    train = Executor(sym, {"q_data": (4, 3, 2)}, dtype="float64")
    for k, v in values.items():
        train.arg_arrays[k][...] = v
    train.forward(True)
    assert not np.allclose(train.outputs[0], ref)
    geo = ops.rnn.layout(p, (4, 3, 2))
    reserve = dict((slot, expr) for _, slot, expr in train.plan.nodes[0].fwd_args)["reserve"]
    bwd = dict((slot, expr) for _, slot, expr in train.plan.nodes[0].bwd_args)
    assert bwd["reserve_grad"] == "NULL"          # the hidden record has no gradient buffer
    start = int(reserve.split("+")[1]) + geo["layers"][1]["mask"]
    mask = train.arena[start:start + 4 * 3 * H]
    assert set(np.unique(mask)) <= {0.0, 2.0} and 0 < (mask == 0).sum() < mask.size


def test_parameter_length_and_state_shapes_are_inferred():
    """MXNet's packed length (I + H + 2) * G * H * D for the first layer and (D * H + H + 2) *
    G * H * D for each other, written out here for a few cases; states (L * D, N, H)."""
    x = mx.sym.Variable("x")
    lstm = mx.sym.RNN(x, state_size=20, num_layers=2, mode="lstm", bidirectional=True,
                      state_outputs=True, name="l")
    args, outs, aux = lstm.infer_shape(x=(5, 7, 10))
    assert dict(zip(lstm.list_arguments(), args)) == {
        "x": (5, 7, 10), "l_parameters": (15040,), "l_state": (4, 7, 20),
        "l_state_cell": (4, 7, 20)}
    assert outs == [(5, 7, 40), (4, 7, 20), (4, 7, 20)] and aux == []
    assert lstm.list_outputs() == ["l_output", "l_state_output", "l_statecell_output"]
    gru = mx.sym.RNN(x, state_size=8, num_layers=3, mode="gru", name="g")
    args, outs, _ = gru.infer_shape(x=(2, 1, 5))
    assert args[1] == (3 * 8 * (5 + 8 + 2) + 2 * 3 * 8 * (8 + 8 + 2),) == (1224,)
    assert outs == [(2, 1, 8)] and gru.list_outputs() == ["g_output"]
    # LSTMP: W_h2h is (4H x P), layers above the first read D * P features, and each (layer,
    # direction) adds W_h2r (P x H): here (10 + 4 + 2) * 4 * 8 * 2 + (8 + 4 + 2) * 4 * 8 * 2
    # + 4 * 8 * 2 * 2
    lstmp = mx.sym.RNN(x, state_size=8, num_layers=2, mode="lstm", bidirectional=True,
                       projection_size=4, state_outputs=True, name="p")
    args, outs, _ = lstmp.infer_shape(x=(3, 5, 10))
    assert args[1:] == [(1024 + 896 + 128,), (4, 5, 4), (4, 5, 8)]
    assert outs == [(3, 5, 8), (4, 5, 4), (4, 5, 8)]
    tanh = mx.sym.RNN(x, state_size=4, num_layers=1, mode="rnn_tanh", name="t")
    assert tanh.infer_shape(x=(1, 1, 3))[0][1] == (4 * (3 + 4 + 2),)
    assert ops.rnn.param_size(ops.get("RNN").parse_params(
        dict(state_size=20, num_layers=2, mode="lstm", bidirectional=True)), 10) == 15040
    with pytest.raises(MXNetError, match="parameters"):
        lstm.infer_shape(x=(5, 7, 10), l_parameters=(15039,))
    with pytest.raises(MXNetError, match="state"):
        lstm.infer_shape(x=(5, 7, 10), l_state=(2, 7, 20))


def test_refusals_name_the_parameter():
    x = mx.sym.Variable("x")
    with pytest.raises(MXNetError, match="use_sequence_length"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="lstm", use_sequence_length=True)
    with pytest.raises(MXNetError, match="projection_size.*only defined for mode=lstm"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="gru", projection_size=1)
    with pytest.raises(MXNetError, match="projection_size"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="lstm", projection_size=3)
    with pytest.raises(MXNetError, match="lstm_state_clip_min"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="gru", lstm_state_clip_min=-1,
                   lstm_state_clip_max=1)
    with pytest.raises(MXNetError, match="together"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="lstm", lstm_state_clip_max=1)
    with pytest.raises(MXNetError, match="lstm_state_clip_max"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="lstm", lstm_state_clip_min=1,
                   lstm_state_clip_max=0)
    with pytest.raises(MXNetError, match="mode"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="rnn_sigmoid")
    with pytest.raises(MXNetError, match="state_size"):
        mx.sym.RNN(x, state_size=0, num_layers=1, mode="gru")
    with pytest.raises(MXNetError, match=r"'data' \(2, 3\).*got 2 dimensions"):
        mx.sym.RNN(x, state_size=2, num_layers=1, mode="gru").infer_shape(x=(2, 3))


def test_nd_rnn_runs_the_reference_eagerly():
    """mx.nd.RNN: visible outputs only, the same numbers as the reference."""
    rng = np.random.RandomState(4)
    p = dict(state_size=2, num_layers=1, mode="lstm", state_outputs=True)
    psize = ops.rnn.param_size(ops.get("RNN").parse_params(p), 3)
    x, w = rng.uniform(-1, 1, (2, 1, 3)), rng.uniform(-1, 1, psize)
    h0, c0 = rng.uniform(-1, 1, (1, 1, 2)), rng.uniform(-1, 1, (1, 1, 2))
    out = mx.nd.RNN(mx.nd.array(x), mx.nd.array(w), mx.nd.array(h0), mx.nd.array(c0), **p)
    assert [o.shape for o in out] == [(2, 1, 2), (1, 1, 2), (1, 1, 2)]
    np.testing.assert_allclose(out[0].asnumpy()[-1], out[1].asnumpy()[0], rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Parameters already initialized")
def test_module_fits_a_sequence_regression():
    """Module.fit with an LSTM over batch-major data (transposed to TNC): the packed parameters
    are updated by the compiled optimizer and the error falls well below its start."""
    rng = np.random.RandomState(0)
    steps, hidden = 6, 8
    X = rng.uniform(-1, 1, (128, steps, 2)).astype(np.float32)
    Y = X[:, :, 0].sum(1, keepdims=True) * 0.5 - X[:, :, 1].max(1, keepdims=True)
    seq = mx.sym.transpose(mx.sym.Variable("data"), axes=(1, 0, 2))
    out = mx.sym.RNN(seq, mx.sym.Variable("rnn_parameters", init=mx.init.Uniform(0.3)),
                     mx.sym.Variable("rnn_state", init=mx.init.Zero()),
                     mx.sym.Variable("rnn_state_cell", init=mx.init.Zero()),
                     state_size=hidden, num_layers=1, mode="lstm", name="rnn")
    last = mx.sym.Reshape(mx.sym.slice_axis(out, axis=0, begin=steps - 1, end=steps),
                          shape=(-1, hidden))
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(last, num_hidden=1, name="fc"),
                                        name="lro")
    it = mx.io.NDArrayIter(X, Y, 16, shuffle=True, label_name="lro_label")
    mod = mx.mod.Module(net, label_names=["lro_label"],
                        fixed_param_names=["rnn_state", "rnn_state_cell"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Uniform(0.3))
    start = dict(mod.score(it, "mse"))["mse"]
    it.reset()
    mod.fit(it, num_epoch=30, optimizer="adam", optimizer_params={"learning_rate": 0.02},
            eval_metric="mse")
    assert dict(mod.score(it, "mse"))["mse"] < start / 10
    assert np.all(mod.get_params()[0]["rnn_state"].asnumpy() == 0)


def test_module_input_gradients_follow_grad_req():
    """inputs_need_grad with grad_req 'write' gives the data's gradient through the RNN, with
    'null' MXNet's [None]."""
    net = mx.sym.RNN(mx.sym.Variable("data"), mx.sym.Variable("p", init=mx.init.Uniform(0.5)),
                     mx.sym.Variable("h0", init=mx.init.Zero()), state_size=3, num_layers=1,
                     mode="rnn_tanh", name="rnn")
    batch = mx.io.DataBatch(data=[mx.nd.array(np.random.RandomState(1).uniform(-1, 1, (2, 3, 4)))])
    grads = {}
    for req in ("write", "null"):
        mod = mx.mod.Module(net, label_names=None)
        mod.bind(data_shapes=[("data", (2, 3, 4))], label_shapes=None, inputs_need_grad=True,
                 grad_req=req)
        mod.init_params()
        mod.forward(batch, is_train=True)
        mod.backward(out_grads=[mx.nd.ones((2, 3, 3))])
        grads[req] = mod.get_input_grads()
    assert grads["null"] == [None]
    assert grads["write"][0].shape == (2, 3, 4) and np.abs(grads["write"][0].asnumpy()).sum() > 0


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("cc")),
                    reason="make or cc is missing: the exported library is not built")
def test_exported_trainer_builds_warning_free_and_self_checks(tmp_path):
    """The standalone export of a two-layer bidirectional LSTM under an LSTMP and a gru
    (forward and BPTT kernels) builds with -Wall -Wextra -Werror -pedantic and its self-check
    reproduces the module's outputs."""
    seq = mx.sym.Variable("data")
    out = mx.sym.RNN(seq, mx.sym.Variable("rnn_parameters", init=mx.init.Uniform(0.3)),
                     mx.sym.Variable("rnn_state", init=mx.init.Zero()),
                     mx.sym.Variable("rnn_state_cell", init=mx.init.Zero()),
                     state_size=3, num_layers=2, mode="lstm", bidirectional=True, name="rnn")
    out = mx.sym.RNN(out, mx.sym.Variable("p_parameters", init=mx.init.Uniform(0.3)),
                     mx.sym.Variable("p_state", init=mx.init.Zero()),
                     mx.sym.Variable("p_state_cell", init=mx.init.Zero()),
                     state_size=3, num_layers=1, mode="lstm", projection_size=2, name="p")
    out = mx.sym.RNN(out, mx.sym.Variable("g_parameters", init=mx.init.Uniform(0.3)),
                     mx.sym.Variable("g_state", init=mx.init.Zero()),
                     state_size=2, num_layers=1, mode="gru", name="g")
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(out, num_hidden=1, name="fc"),
                                        name="lro")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    mod.bind([("data", (4, 2, 3))], [("lro_label", (4, 1))])
    mod.init_params(mx.init.Uniform(0.3))
    mod.init_optimizer(optimizer="adam")
    mod.export(str(tmp_path / "rnnt"), kind="trainer")
    res = subprocess.run(["make", "-s", "-C", str(tmp_path / "rnnt"), "check"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "-Werror" in (tmp_path / "rnnt" / "Makefile").read_text()
    assert "ok (0 mismatches" in res.stdout


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    """Every mode, dropout, clipping, two directions and state outputs in one CUDA build."""
    heads = [rnn("k_lstm", "lstm", num_layers=2, bidirectional=True, state_outputs=True, p=0.2,
                 lstm_state_clip_min=-1, lstm_state_clip_max=1),
             rnn("k_lstmp", "lstm", num_layers=2, bidirectional=True, projection_size=2),
             rnn("k_gru", "gru", num_layers=2, state_outputs=True),
             rnn("k_relu", "rnn_relu", bidirectional=True, num_layers=1),
             rnn("k_tanh", "rnn_tanh", num_layers=1)]
    group = mx.sym.Group(heads)
    shapes = {"k_%s_data" % m: (3, 2, 4) for m in ("lstm", "lstmp", "gru", "relu", "tanh")}
    plan = make_plan(group, shapes, list(shapes), [],
                     grad_req={k: "write" for k in group.list_arguments()})
    src, cdef = cuda.render(plan)
    for kind in ("fwd_lstm", "bwd_lstm", "fwd_gru", "bwd_gru", "dropout_fwd", "dropout_bwd",
                 "colsum", "fwd_lstmp", "bwd_lstmp", "add_dy"):
        assert "%s_k(" % kind in src, kind
    assert "k_relu_fwd_rnn_k" in src and "k_tanh_bwd_rnn_k" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
