"""Shape inference as MXNet does it: partial shapes (0 = unknown dimension, () = unknown
shape), rules run forward and backward until nothing changes, MXNet's partial results and
(None, None, None) when incomplete. Expected shapes are worked out by hand from each
operator's definition."""
import warnings

import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler.ops import REGISTRY
from mxc.compiler.shape import _takes_outputs


def _args(sym, **given):
    args, _, _ = sym.infer_shape(**given)
    return dict(zip(sym.list_arguments(), args))


def _partial(sym, **given):
    args, outs, aux = sym.infer_shape_partial(**given)
    return dict(zip(sym.list_arguments(), args)), outs, aux


# ---- both directions --------------------------------------------------------------------------

def test_elementwise_operands_fill_each_other():
    a = mx.sym.Variable("a", shape=(0, 10))
    b = mx.sym.Variable("b", shape=(12, 0))
    assert _args(a + b) == {"a": (12, 10), "b": (12, 10)}
    assert _args(mx.sym.elemwise_mul(a, b) * 2) == {"a": (12, 10), "b": (12, 10)}


def test_fully_connected_takes_its_batch_from_the_output():
    a = mx.sym.Variable("a", shape=(0, 10))
    fc = mx.sym.FullyConnected(a, num_hidden=21, name="fc")
    c = mx.sym.Variable("c", shape=(5, 0))
    assert _args(fc + c) == {"a": (5, 10), "fc_weight": (21, 10), "fc_bias": (21,),
                             "c": (5, 21)}
    # flatten=False: every leading dimension comes back from the output
    x = mx.sym.Variable("x", shape=(0, 0, 4))
    fc3 = mx.sym.FullyConnected(x, num_hidden=3, flatten=False, no_bias=True, name="f3")
    y = mx.sym.Variable("y", shape=(2, 7, 3))
    assert _args(fc3 + y) == {"x": (2, 7, 4), "f3_weight": (3, 4), "y": (2, 7, 3)}


def test_activation_dropout_batchnorm_pass_shapes_both_ways():
    x = mx.sym.Variable("x")
    h = mx.sym.Activation(x, act_type="relu")
    h = mx.sym.Dropout(h, p=0.5)
    h = mx.sym.BatchNorm(h, name="bn")
    h = mx.sym.softmax(h, axis=1)
    out = h + mx.sym.Variable("y", shape=(4, 6, 3))
    args, _, aux = out.infer_shape()
    assert dict(zip(out.list_arguments(), args)) == {
        "x": (4, 6, 3), "bn_gamma": (6,), "bn_beta": (6,), "y": (4, 6, 3)}
    assert aux == [(6,), (6,)]
    # the channel count may come from gamma alone
    d = mx.sym.Variable("d", shape=(2, 0))
    bn = mx.sym.BatchNorm(d, name="b2")
    got, outs, aux = _partial(bn, b2_gamma=(7,))
    assert got["d"] == (2, 7) and outs == [(2, 7)] and aux == [(7,), (7,)]


def test_slice_channel_back_infers_its_input():
    a = mx.sym.Variable("a", shape=(0, 10))
    parts = mx.sym.SliceChannel(a, num_outputs=10, axis=1, squeeze_axis=True)
    assert _args(parts[1] + mx.sym.Variable("c", shape=(5,)))["a"] == (5, 10)
    a = mx.sym.Variable("a", shape=(0, 15, 0))
    parts = mx.sym.SliceChannel(a, num_outputs=3)
    assert _args(parts[1] + mx.sym.Variable("c", shape=(3, 5, 2)))["a"] == (3, 15, 2)
    # the parts must agree with each other
    a = mx.sym.Variable("a", shape=(0, 6))
    parts = mx.sym.SliceChannel(a, num_outputs=2, name="sl")
    bad = mx.sym.Group([parts[0] + mx.sym.Variable("p", shape=(3, 3)),
                        parts[1] + mx.sym.Variable("q", shape=(4, 3))])
    with pytest.raises(MXNetError, match="sl"):
        bad.infer_shape()


@pytest.mark.parametrize("stride,want", [((1, 1), (5, 10, 32, 32)), ((2, 2), (5, 10, 0, 0))])
def test_convolution_back_infers_batch_and_unit_stride_sizes(stride, want):
    # stride 1: H = H_out + (kernel - 1) - 2 pad = 32 + 2 - 2; stride 2: not invertible
    a = mx.sym.Variable("a", shape=(0, 10, 0, 0))
    conv = mx.sym.Convolution(a, num_filter=21, kernel=(3, 3), pad=(1, 1), stride=stride,
                              name="conv")
    c = mx.sym.Variable("c", shape=(5, 21, 32, 32))
    got, outs, _ = _partial(conv + c)
    assert got["a"] == want and got["conv_weight"] == (21, 10, 3, 3)
    assert outs == [(5, 21, 32, 32)]


def test_concat_shares_every_other_dimension_and_fills_one_unknown_width():
    a = mx.sym.Variable("a", shape=(0, 10))
    b = mx.sym.Variable("b", shape=(0, 5))
    d = mx.sym.Variable("d", shape=(2, 0)) + mx.sym.Concat(a, b, num_args=2, dim=1)
    assert _args(d) == {"d": (2, 15), "a": (2, 10), "b": (2, 5)}
    # output width 15 known, one input width unknown: 15 - 10
    b = mx.sym.Variable("b", shape=(2, 0))
    out = mx.sym.Concat(a, b, dim=1) + mx.sym.Variable("e", shape=(2, 15))
    assert _args(out)["b"] == (2, 5)
    with pytest.raises(MXNetError, match="Concat"):
        mx.sym.Concat(mx.sym.Variable("p"), mx.sym.Variable("q"), dim=1,
                      name="cat").infer_shape(p=(2, 3), q=(3, 3))


def test_transpose_expand_dims_flatten_infer_their_input_from_the_output():
    x = mx.sym.Variable("x")
    t = mx.sym.transpose(x, axes=(0, 3, 2, 1))
    assert _args(t + mx.sym.Variable("y", shape=(2, 5, 4, 3)))["x"] == (2, 3, 4, 5)
    e = mx.sym.expand_dims(x, axis=1)
    assert _args(e + mx.sym.Variable("y", shape=(2, 1, 7)))["x"] == (2, 7)
    f = mx.sym.Flatten(mx.sym.Variable("z", shape=(0, 3, 4)))
    assert _args(f + mx.sym.Variable("y", shape=(6, 12)))["z"] == (6, 3, 4)


def test_reshape_partial_forward_and_one_unknown_input_dimension_back():
    d = mx.sym.Variable("d", shape=(0, 6))
    r = mx.sym.Reshape(d, shape=(-1, 2, 3))
    assert _partial(r)[1] == [(0, 2, 3)]
    assert _args(r + mx.sym.Variable("e", shape=(4, 2, 3)))["d"] == (4, 6)
    assert _partial(mx.sym.Reshape(d, shape=(0, -1)))[1] == [(0, 0)]
    assert _partial(mx.sym.Reshape(d, shape=(-3,)))[1] == [(0,)]


def test_softmax_output_labels_may_be_partial():
    x, lab = mx.sym.Variable("x"), mx.sym.Variable("l")
    multi = mx.sym.SoftmaxOutput(x, lab, multi_output=True)
    # (N, spatial...) is the first label form a partial label fits; (N, 1, spatial...) too
    assert _partial(multi, x=(2, 3, 2, 2), l=(0, 2, 2))[0]["l"] == (2, 2, 2)
    assert _partial(multi, x=(2, 3, 2, 2), l=(2, 1, 0, 2))[0]["l"] == (2, 1, 2, 2)
    with pytest.raises(MXNetError, match="label"):
        multi.infer_shape(x=(2, 3, 2, 2), l=(2, 5))
    plain = mx.sym.SoftmaxOutput(x, lab)
    assert _partial(plain, x=(4, 5), l=(0,))[0]["l"] == (4,)
    assert _partial(plain, x=(0, 5))[0]["l"] == (0,)
    assert _args(plain, x=(4, 5), l=(4, 1))["l"] == (4, 1)


# ---- partial forward results (MXNet's test_*_partial_shape cases, worked by hand) -------------

def test_partial_forward_results_keep_unknown_dimensions():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    assert mx.sym.dot(x, y).infer_shape_partial(x=(0, 3, 4), y=(4, 5))[1] == [(0, 3, 5)]
    assert mx.sym.dot(x, y, transpose_b=True).infer_shape_partial(
        x=(0, 4), y=(6, 4))[1] == [(0, 6)]
    with pytest.raises(MXNetError, match="inner"):
        mx.sym.dot(x, y).infer_shape_partial(x=(0, 3), y=(4, 5))
    bd = mx.sym.batch_dot(x, y)
    assert bd.infer_shape_partial(x=(0, 3, 4), y=(0, 4, 5))[1] == [(0, 3, 5)]
    assert bd.infer_shape_partial(x=(0, 3, 4), y=(0, 0, 5))[1] == [()]
    emb = mx.sym.Embedding(x, y, input_dim=100, output_dim=10)
    assert emb.infer_shape_partial(x=(0, 5), y=(100, 10))[1] == [(0, 5, 10)]
    fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
    args, outs, _ = fc.infer_shape_partial(x=(0, 3, 2))
    assert args == [(0, 3, 2), (4, 6), (4,)] and outs == [(0, 4)]
    assert mx.sym.broadcast_add(x, y).infer_shape_partial(x=(0, 3), y=(1, 3))[1] == [(0, 3)]
    assert mx.sym.sum(x, axis=1).infer_shape_partial(x=(0, 3, 4))[1] == [(0, 4)]
    assert mx.sym.mean(x, axis=0, keepdims=True).infer_shape_partial(x=(0, 3))[1] == [(1, 3)]
    assert mx.sym.one_hot(x, depth=5).infer_shape_partial(x=(0, 3))[1] == [(0, 3, 5)]
    pool = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2))
    assert pool.infer_shape_partial(x=(0, 3, 8, 8))[1] == [(0, 3, 4, 4)]
    deconv = mx.sym.Deconvolution(x, kernel=(2, 2), stride=(2, 2), num_filter=4, name="dc")
    assert deconv.infer_shape_partial(x=(0, 3, 5, 5)) == ([(0, 3, 5, 5), (3, 4, 2, 2)],
                                                          [(0, 4, 10, 10)], [])
    pick = mx.sym.pick(x, y, axis=1)
    assert pick.infer_shape_partial(x=(0, 3, 3), y=(0, 3))[1] == [(0, 3)]
    where = mx.sym.where(mx.sym.Variable("c"), x, y)       # waits for the whole condition
    assert where.infer_shape_partial(c=(0,), x=(2, 2), y=(2, 2))[1] == [()]
    assert where.infer_shape_partial(c=(2,), x=(2, 2), y=(2, 2))[1] == [(2, 2)]


def test_partial_results_and_incomplete_infer_shape():
    ret = mx.sym.sin(mx.sym.var("data"))
    assert ret.infer_shape_partial() == ([()], [()], [])
    with pytest.warns(UserWarning, match="data: \\(\\)"):
        assert ret.infer_shape() == (None, None, None)
    with pytest.warns(UserWarning, match="x: \\(0, 3\\)"):
        assert mx.sym.exp(mx.sym.Variable("x")).infer_shape(x=(0, 3)) == (None, None, None)
    with mx.np_shape(True):
        assert ret.infer_shape_partial() == ([None], [None], [])
        x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
        assert mx.sym.dot(x, y).infer_shape_partial(x=(-1, 3, 4), y=(4, 5))[1] == [(-1, 3, 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ret.infer_shape(data=(2, 2)) == ([(2, 2)], [(2, 2)], [])


def test_shapes_must_be_tuples():
    with pytest.raises(TypeError, match="x"):
        mx.sym.exp(mx.sym.Variable("x")).infer_shape(x=5)


# ---- contradictions, and rules of the old form ------------------------------------------------

def test_backward_contradiction_names_the_node():
    a = mx.sym.Variable("a", shape=(3, 10))
    fc = mx.sym.FullyConnected(a, num_hidden=4, name="fc")
    with pytest.raises(MXNetError, match="fc|_plus"):
        (fc + mx.sym.Variable("c", shape=(5, 4))).infer_shape()


def test_identity_with_attr_like_rhs_lets_inference_flow_back():
    w = mx.sym.Variable("weight")
    wt = mx.sym.broadcast_add(w, mx.sym.Variable("wshift", shape=(1,)))
    wt = mx.sym._internal._identity_with_attr_like_rhs(wt, w)
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), weight=wt, num_hidden=11,
                                no_bias=True)
    assert _args(net, data=(7, 100)) == {"data": (7, 100), "weight": (11, 100),
                                         "wshift": (1,)}


def test_rules_of_the_old_form_still_run_forward():
    # Pooling's rule takes the inputs only: with a complete input it infers as before, and
    # it leaves an input with an unknown dimension alone
    assert not _takes_outputs(REGISTRY["Pooling"].shape_rule)
    assert _takes_outputs(REGISTRY["FullyConnected"].shape_rule)
    x = mx.sym.Variable("x")
    pool = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max")
    assert pool.infer_shape(x=(2, 3, 8, 8))[1] == [(2, 3, 4, 4)]
    got, outs, _ = _partial(pool + mx.sym.Variable("c", shape=(2, 3, 4, 4)), x=(0, 3, 8, 8))
    assert got["x"] == (0, 3, 8, 8) and outs == [(2, 3, 4, 4)]


def test_long_chain_resolves_backwards_in_one_call():
    # 30 steps whose batch is known only at the end of the chain
    h = mx.sym.Variable("h0", shape=(0, 4))
    for t in range(30):
        h = mx.sym.Activation(h, act_type="tanh") * 2
    out = h + mx.sym.Variable("last", shape=(9, 4))
    assert _args(out)["h0"] == (9, 4)


def test_shape_hint_with_unknown_minus_one_under_numpy_shape_semantics():
    """Under np_shape a variable's __shape__ may say -1 for an unknown dimension (MXNet's
    NumPy semantics); outside it -1 is refused naming the variable."""
    with mx.np_shape():
        v = mx.sym.var("data", shape=(-1, 20))
        out = mx.sym.slice(v, begin=(None, 2), end=(None, 10))
        assert out.infer_shape_partial()[1] == [(-1, 8)]
        v = mx.sym.var("data", shape=(10, -1))
        assert mx.sym.slice_axis(v, axis=0, begin=2, end=8).infer_shape_partial()[1] == [(6, -1)]
    v = mx.sym.var("data", shape=(-1, 20))
    with pytest.raises(mx.base.MXNetError, match="variable 'data'.*__shape__"):
        mx.sym.relu(v).infer_shape_partial()
