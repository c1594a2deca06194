"""Executor details that MXNet 1.9's own tests rely on, checked against NumPy: a group of
internal outputs bound directly, Symbol.eval, grad_arrays for 'null', output_dict, reshape,
and test_utils' broadcasting comparison (MXNet's default)."""
import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu


def test_group_of_internals_binds_and_runs_like_numpy():
    rs = np.random.RandomState(3)
    d = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(d, num_hidden=4, name="fc")
    parts = mx.sym.SliceChannel(fc, num_outputs=2, name="split")
    act = mx.sym.Activation(parts[1], act_type="tanh", name="act")
    out = mx.sym.LinearRegressionOutput(act, name="lro")
    internals = out.get_internals()
    group = mx.sym.Group([internals["fc_output"], parts[0], internals["act_output"], out])
    ex = group.simple_bind(mx.cpu(), data=(3, 5), grad_req={"fc_weight": "write"})
    assert list(ex.output_dict) == ["fc_output", "split_output0", "act_output", "lro_output"]
    assert [g is None for g in ex.grad_arrays] == [True, False, True, True]
    x, w, b = rs.normal(size=(3, 5)), rs.normal(size=(4, 5)), rs.normal(size=(4,))
    label = rs.normal(size=(3, 2))
    outs = ex.forward(is_train=True, data=x, fc_weight=w, fc_bias=b, lro_label=label)
    h = x @ w.T + b
    want = [h, h[:, :2], np.tanh(h[:, 2:]), np.tanh(h[:, 2:])]
    for got, ref in zip(outs, want):
        np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    # the loss head makes its own gradient; the other heads get the given ones
    heads = [np.zeros((3, 4)), np.ones((3, 2)), np.zeros((3, 2)), None]
    ex.backward([mx.nd.array(g) for g in heads[:3]])
    dh = np.zeros((3, 4))
    dh[:, :2] = 1
    t = np.tanh(h[:, 2:])
    # LinearRegressionOutput's gradient (out - label) / outputs per row, through tanh
    dh[:, 2:] = (t - label) / 2 * (1 - t ** 2)
    np.testing.assert_allclose(ex.grad_dict["fc_weight"].asnumpy(), dh.T @ x, rtol=1e-4,
                               atol=1e-5)


def test_eval_of_scalar_arithmetic_matches_numpy():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    expr = (2 - a) ** 2 + 2 ** b - abs(-a / 4) + np.float32(3) * a
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -2.0])
    got = expr.eval(ctx=mx.cpu(), a=mx.nd.array(x), b=mx.nd.array(y))
    assert len(got) == 1
    np.testing.assert_allclose(got[0].asnumpy(), (2 - x) ** 2 + 2 ** y - abs(-x / 4) + 3 * x,
                               rtol=1e-6)
    with pytest.raises(mx.base.MXNetError):
        expr.eval(a=mx.nd.array(x))                  # b is missing


def test_reshape_shares_memory_and_refuses_silent_changes():
    x = mx.sym.Variable("x")
    y = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(x, num_hidden=2, name="fc"),
                                      name="lro")
    ex = y.simple_bind(mx.cpu(), x=(4, 3))
    ex.arg_dict["fc_weight"][:] = 1
    with pytest.raises(mx.base.MXNetError, match="lro_label"):
        ex.reshape(x=(2, 3))                         # the label's shape would change
    with pytest.raises(mx.base.MXNetError, match="allow_up_sizing"):
        ex.reshape(x=(8, 3), lro_label=(8, 2))
    small = ex.reshape(x=(2, 3), lro_label=(2, 2))
    assert small.arg_dict["fc_weight"] is ex.arg_dict["fc_weight"]
    small.arg_dict["x"][:] = 1
    np.testing.assert_array_equal(ex.arg_dict["x"].asnumpy()[:2], 1)   # the front, shared
    big = ex.reshape(partial_shaping=True, allow_up_sizing=True, x=(8, 5))
    assert [a.shape for a in big.arg_arrays] == [(8, 5), (2, 5), (2,), (8, 2)]
    np.testing.assert_array_equal(ex.arg_dict["fc_weight"].asnumpy(), 1)


def test_assert_almost_equal_broadcasts_unless_told_not_to():
    tu.assert_almost_equal(np.float32(2.0), np.array([2.0]))      # () against (1,)
    tu.assert_almost_equal(np.ones((2, 3)), np.ones(3))
    assert tu.almost_equal(np.ones((2, 1)), np.ones((1, 4)))
    with pytest.raises(AssertionError, match="shape mismatch"):
        tu.assert_almost_equal(np.ones(()), np.ones((1,)), use_broadcast=False)
    with pytest.raises(AssertionError, match="shape mismatch"):
        tu.assert_almost_equal(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(AssertionError, match="worst at index"):
        tu.assert_almost_equal(np.array([[1.0, 2.0]]), np.array([1.0, 2.5]))


def test_operators_without_a_gradient_refuse_training_binds_unless_stopped():
    # MXNet 1.9.1 gives these outcomes (batch_take and argmax_channel register no gradient;
    # argmax and BlockGrad register zeros)
    x, idx = mx.sym.Variable("x"), mx.sym.Variable("idx")
    taken = mx.sym.batch_take(x, idx)
    cases = {"through_argmax": (mx.sym.argmax(mx.sym.reshape(taken, shape=(1, -1)), axis=1),
                                True),
             "plus_other": (taken + mx.sym.sum(x, axis=1), False),
             "argmax_channel": (mx.sym.argmax_channel(x) + mx.sym.sum(x, axis=1), False),
             "group_with_blocked": (mx.sym.Group([mx.sym.BlockGrad(taken), x * 2]), True)}
    types = {"x": np.float32, "idx": np.int32}
    for name, (sym, binds) in cases.items():
        shapes = {k: v for k, v in (("x", (4, 3)), ("idx", (4,)))
                  if k in sym.list_arguments()}
        given = {k: types[k] for k in shapes}
        if binds:
            sym.simple_bind(mx.cpu(), type_dict=given, **shapes)
        else:
            with pytest.raises(mx.base.MXNetError, match="non-differentiable"):
                sym.simple_bind(mx.cpu(), type_dict=given, **shapes)
        # without gradients every graph binds
        sym.simple_bind(mx.cpu(), type_dict=given, grad_req="null", **shapes)
    ex = mx.sym.stop_gradient(taken).simple_bind(mx.cpu(), x=(4, 3), idx=(4,),
                                                 type_dict=types)
    xv = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = ex.forward(x=xv, idx=np.array([0, 2, 1, 2]))[0].asnumpy()
    np.testing.assert_array_equal(out, xv[np.arange(4), [0, 2, 1, 2]])
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["x"].asnumpy(), 0)


def test_simple_bind_passes_over_shapes_of_names_the_graph_lacks():
    # MXNet 1.9.1 binds this: the shape for 'q' is not used
    y = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=2, name="fc")
    ex = y.simple_bind(mx.cpu(), x=(3, 4), q=(1,))
    assert [a.shape for a in ex.arg_arrays] == [(3, 4), (2, 4), (2,)]
