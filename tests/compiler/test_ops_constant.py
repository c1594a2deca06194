"""Constant symbols (_zeros / _ones / _full, mx.sym.zeros / ones / full) and the identity
(_copy, mx.sym.identity): forward against NumPy, gradients against central differences,
unknown dimensions filled from the consumers, MXNet's JSON form, errors, the CUDA build."""
import json
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def _constants_graph():
    x = mx.sym.Variable("x")
    return mx.sym.Group([
        x * mx.sym.full((2, 3), 1.5, name="f") + mx.sym.ones((2, 3), name="o"),
        mx.sym.identity(x, name="ident") * 2 + mx.sym.zeros(shape=(2, 3), name="z"),
        mx.sym.zeros((2, 3)) + mx.sym.full(shape=(2, 3), val=-4),
        mx.sym.broadcast_mul(x, mx.sym.full((1, 3), 0.25, dtype="float64")),
    ])


def test_constants_and_identity_forward_and_gradient():
    xv = np.random.RandomState(0).uniform(-2, 2, size=(2, 3))
    sym = _constants_graph()
    want = [xv * 1.5 + 1, xv * 2, np.full((2, 3), -4.0), xv * 0.25]
    tu.check_symbolic_forward(sym, {"x": xv}, want, rtol=1e-12, atol=1e-12, dtype=np.float64)
    tu.check_numeric_gradient(sym, {"x": xv}, numeric_eps=1e-5, rtol=1e-6, atol=1e-8)
    # closed form: d/dx of sum(out * g) for each head
    g = [np.random.RandomState(k).uniform(-1, 1, size=(2, 3)) for k in range(4)]
    tu.check_symbolic_backward(sym, {"x": xv}, g, {"x": 1.5 * g[0] + 2 * g[1] + 0.25 * g[3]},
                               rtol=1e-12, atol=1e-12, dtype=np.float64)


def test_constant_has_no_arguments_and_names_as_mxnet():
    z = mx.sym.zeros((3, 4))
    assert z.list_arguments() == [] and z.name.startswith("_zeros")
    assert mx.sym.ones((1,)).name.startswith("_ones")
    assert mx.sym.full((1,), 2).name.startswith("_full")
    assert mx.sym.identity(mx.sym.Variable("v")).name.startswith("identity")
    args, outs, aux = mx.sym.full((2, 5), 7).infer_shape()
    assert (args, outs, aux) == ([], [(2, 5)], [])


def _like_rhs_graph():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    return mx.sym._internal._identity_with_attr_like_rhs(mx.sym.exp(a), b, name="like") * b


def test_identity_with_attr_like_rhs_copies_lhs_and_gives_rhs_no_gradient_of_its_own():
    rs = np.random.RandomState(4)
    av, bv = rs.uniform(-1, 1, (3, 2)), rs.uniform(-1, 1, (3, 2))
    sym = _like_rhs_graph()
    assert sym.infer_shape(b=(3, 2))[0] == [(3, 2), (3, 2)]
    tu.check_symbolic_forward(sym, {"a": av, "b": bv}, [np.exp(av) * bv], rtol=1e-12,
                              atol=1e-12, dtype=np.float64)
    tu.check_numeric_gradient(sym, {"a": av, "b": bv}, numeric_eps=1e-5, rtol=1e-6, atol=1e-8)
    g = rs.uniform(-1, 1, (3, 2))
    # d/db reaches b through the product only: the identity adds nothing for its rhs
    tu.check_symbolic_backward(sym, {"a": av, "b": bv}, [g],
                               {"a": np.exp(av) * bv * g, "b": np.exp(av) * g},
                               rtol=1e-12, atol=1e-12, dtype=np.float64)


# ---- unknown dimensions, filled from the consumers ----------------------------------------

def _lstm_step(data, h, c, hidden, prefix):
    """One LSTM step as mx.rnn's LSTMCell writes it (i2h + h2h, four gates)."""
    i2h = mx.sym.FullyConnected(data, num_hidden=4 * hidden, name=prefix + "i2h")
    h2h = mx.sym.FullyConnected(h, num_hidden=4 * hidden, name=prefix + "h2h")
    gates = mx.sym.SliceChannel(i2h + h2h, num_outputs=4, name=prefix + "slice")
    i = mx.sym.Activation(gates[0], act_type="sigmoid")
    f = mx.sym.Activation(gates[1], act_type="sigmoid")
    g = mx.sym.Activation(gates[2], act_type="tanh")
    o = mx.sym.Activation(gates[3], act_type="sigmoid")
    c_next = f * c + i * g
    return o * mx.sym.Activation(c_next, act_type="tanh"), c_next


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_begin_state_zeros_with_unknown_batch_infers_and_binds():
    hidden, batch, dim = 3, 2, 5
    data = mx.sym.Variable("data")
    h0 = mx.sym.zeros(shape=(0, hidden), name="begin_state_0", __layout__="NC")
    c0 = mx.sym.zeros(shape=(0, hidden), name="begin_state_1", __layout__="NC")
    h1, c1 = _lstm_step(data, h0, c0, hidden, "t0_")
    out = mx.sym.Group([h1, c1])
    args, outs, aux = out.infer_shape(data=(batch, dim))
    shapes = dict(zip(out.list_arguments(), args))
    assert shapes == {"data": (batch, dim), "t0_i2h_weight": (4 * hidden, dim),
                      "t0_i2h_bias": (4 * hidden,), "t0_h2h_weight": (4 * hidden, hidden),
                      "t0_h2h_bias": (4 * hidden,)}
    assert outs == [(batch, hidden), (batch, hidden)] and aux == []
    # partial: the batch stays unknown (0) without the data shape
    _, outs, _ = out.infer_shape_partial(t0_h2h_weight=(12, 3))
    assert outs == [(0, hidden), (0, hidden)]

    rs = np.random.RandomState(1)
    vals = {k: rs.uniform(-1, 1, size=s) for k, s in shapes.items()}
    ex = out.simple_bind(mx.cpu(), data=(batch, dim), grad_req="null")
    for k, v in vals.items():
        ex.arg_dict[k][:] = v
    got_h, got_c = (o.asnumpy() for o in ex.forward())
    # NumPy: with h0 = c0 = 0, h2h is its bias alone and f * c0 vanishes
    z = vals["data"] @ vals["t0_i2h_weight"].T + vals["t0_i2h_bias"] + vals["t0_h2h_bias"]
    i, f, g, o = np.split(z, 4, axis=1)
    c = _sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(got_c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, _sigmoid(o) * np.tanh(c), rtol=1e-5, atol=1e-6)


def test_unknown_dimension_inferred_from_a_broadcast_free_consumer_chain():
    x = mx.sym.Variable("x")
    z = mx.sym.ones(shape=(0, 0), name="z")
    out = mx.sym.identity(z) * x
    args, outs, _ = out.infer_shape(x=(4, 2))
    assert args == [(4, 2)] and outs == [(4, 2)]
    xv = np.random.RandomState(2).uniform(-1, 1, (4, 2))
    tu.check_symbolic_forward(out, {"x": xv}, [xv], rtol=1e-12, atol=1e-12, dtype=np.float64)


def test_unknown_dimension_never_filled_is_refused_at_bind():
    x = mx.sym.Variable("x")
    z = mx.sym.zeros(shape=(0, 3), name="z")
    out = mx.sym.Group([x * 2, z])
    with pytest.warns(UserWarning):
        assert out.infer_shape(x=(2, 3)) == (None, None, None)
    assert out.infer_shape_partial(x=(2, 3))[1] == [(2, 3), (0, 3)]
    with pytest.raises(MXNetError, match="z"):
        out.simple_bind(mx.cpu(), x=(2, 3))


def test_constant_shape_contradicting_its_consumer_names_the_node():
    x = mx.sym.Variable("x")
    out = x + mx.sym.ones((2, 4), name="four")
    with pytest.raises(MXNetError, match="four"):
        out.infer_shape(x=(2, 3))


@pytest.mark.parametrize("params,what", [
    (dict(shape=(2, -3)), "shape"), (dict(shape=(2,), ctx="disk(0)"), "ctx"),
    (dict(shape=(2,), dtype="float128"), "dtype"), (dict(shape="(2, x)"), "shape")])
def test_bad_constant_parameters(params, what):
    with pytest.raises(MXNetError, match=what):
        mx.sym._zeros(**params)


def test_full_needs_its_value():
    with pytest.raises(MXNetError, match="value"):
        mx.sym._full(shape=(2,))


# ---- MXNet's JSON -----------------------------------------------------------------------------

def test_json_form_matches_mxnet_and_loads():
    z = mx.sym.zeros(shape=(0, 200), name="state", __layout__="NC")
    node = json.loads(z.tojson())["nodes"][0]
    assert node == {"op": "_zeros", "name": "state", "inputs": [],
                    "attrs": {"__layout__": "NC", "dtype": "float32", "shape": "(0, 200)"}}
    full = json.loads(mx.sym.full((2, 3), 2, dtype="float64").tojson())["nodes"][0]
    assert full["attrs"] == {"dtype": "float64", "shape": "(2, 3)", "value": "2.0"}
    # a graph as MXNet 1.9 writes it: data + _ones(shape=(0, 3)), then _copy
    doc = {"nodes": [{"op": "null", "name": "data", "inputs": []},
                     {"op": "_ones", "name": "one", "attrs": {"shape": "(0, 3)", "dtype": "0"},
                      "inputs": []},
                     {"op": "elemwise_add", "name": "add", "inputs": [[0, 0, 0], [1, 0, 0]]},
                     {"op": "_copy", "name": "copy", "inputs": [[2, 0, 0]]}],
           "arg_nodes": [0], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
           "attrs": {"mxnet_version": ["int", 10901]}}
    sym = mx.sym.load_json(json.dumps(doc))
    assert sym.infer_shape(data=(5, 3))[1] == [(5, 3)]
    dv = np.arange(15.0).reshape(5, 3)
    tu.check_symbolic_forward(sym, {"data": dv}, [dv + 1], rtol=1e-12, atol=1e-12,
                              dtype=np.float64)
    again = mx.sym.load_json(sym.tojson())
    assert json.loads(again.tojson()) == json.loads(sym.tojson())


# ---- the CUDA build ---------------------------------------------------------------------------

@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    plan = make_plan(_constants_graph(), {"x": (2, 3)}, ["x"], [], grad_req={"x": "write"})
    src, cdef = cuda.render(plan)
    assert "f_fwd_k" in src and "(real)1.5" in src and "(real)-4.0" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


@needs_nvcc
def test_cuda_identity_like_rhs_compiles_with_nvcc(tmp_path):
    plan = make_plan(_like_rhs_graph(), {"a": (2, 3), "b": (2, 3)}, ["a", "b"], [],
                     grad_req={"a": "write", "b": "write"})
    src, cdef = cuda.render(plan)
    assert "cudaMemcpyAsync(output, lhs, sizeof(real) * 6" in src
    assert "cudaMemcpyAsync(lhs_grad, output_grad, sizeof(real) * 6" in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))


def test_minus_one_in_a_constant_shape_is_an_unknown_dimension_filled_from_consumers():
    # MXNet's InitShape reads -1 (as 0) as unknown: the transpose's partner fills it
    b = mx.sym.ones(shape=[2, -1]) + mx.sym.transpose(mx.sym.ones(shape=[3, -1]))
    out = b.bind(mx.cpu(), args={}).forward()[0]
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), 2.0))
    with pytest.raises(mx.base.MXNetError, match="shape"):
        mx.sym.ones(shape=[2, -2])
