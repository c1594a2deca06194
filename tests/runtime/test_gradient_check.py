"""mx.test_utils: array comparison and the compiled-graph gradient checker."""
import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.executor import Executor


def _mlp():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=5, name="fc")
    return mx.sym.Activation(fc, act_type="tanh", name="act")


def _mlp_location(rs):
    return {"data": rs.normal(size=(3, 7)), "fc_weight": rs.normal(size=(5, 7)) * 0.5,
            "fc_bias": rs.normal(size=(5,))}


def test_assert_almost_equal_names_worst_element():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    b = a.copy()
    tu.assert_almost_equal(a, b + 1e-9, rtol=1e-6, atol=1e-8)
    b[2, 1] += 0.5
    b[1, 2] += 0.01
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(a, b, rtol=1e-3, atol=1e-6, names=("x", "y"))
    msg = str(err.value)
    assert "(2, 1)" in msg and "x=9.0" in msg and "y=9.5" in msg and "2 of 12" in msg
    with pytest.raises(AssertionError, match="shape mismatch"):
        tu.assert_almost_equal(a, a.T)
    assert tu.almost_equal(a, a) and not tu.almost_equal(a, b)


def test_numeric_gradient_passes_on_fc_tanh():
    rs = np.random.RandomState(0)
    tu.check_numeric_gradient(_mlp(), _mlp_location(rs), numeric_eps=1e-4, rtol=1e-4,
                              atol=1e-8)


def test_numeric_gradient_list_location_and_grad_nodes():
    rs = np.random.RandomState(1)
    sym = _mlp()
    loc = _mlp_location(rs)
    tu.check_numeric_gradient(sym, [loc[k] for k in sym.list_arguments()],
                              grad_nodes=["fc_weight"], rtol=1e-3, atol=1e-7)
    with pytest.raises(ValueError, match="nope"):
        tu.check_numeric_gradient(sym, loc, grad_nodes=["nope"])
    with pytest.raises(ValueError, match="missing arguments"):
        tu.check_numeric_gradient(sym, {"data": loc["data"]})


def test_numeric_gradient_detects_a_wrong_backward(monkeypatch):
    """A backward pass that is off in one element must be reported, naming the argument."""
    rs = np.random.RandomState(2)
    real_backward = Executor.backward

    def wrong_backward(self):
        real_backward(self)
        if "fc_weight" in self.grad_arrays:
            self.grad_arrays["fc_weight"][1, 3] += 0.05

    monkeypatch.setattr(Executor, "backward", wrong_backward)
    with pytest.raises(AssertionError) as err:
        tu.check_numeric_gradient(_mlp(), _mlp_location(rs), rtol=1e-3, atol=1e-6)
    msg = str(err.value)
    assert "NUMERICAL_fc_weight" in msg and "BACKWARD_fc_weight" in msg and "(1, 3)" in msg


def test_numeric_gradient_rejects_loss_outputs():
    sym = mx.sym.SoftmaxOutput(mx.sym.Variable("x"), name="sm")
    with pytest.raises(ValueError, match="loss operator"):
        tu.check_numeric_gradient(sym, {"x": np.zeros((2, 3)), "sm_label": np.zeros(2)})


def test_symbolic_forward_and_backward_against_formulas():
    rs = np.random.RandomState(3)
    sym = _mlp()
    loc = _mlp_location(rs)
    y = np.tanh(loc["data"] @ loc["fc_weight"].T + loc["fc_bias"])
    tu.check_symbolic_forward(sym, loc, [y], rtol=1e-5, atol=1e-6)
    with pytest.raises(AssertionError, match="EXPECTED_act_output"):
        tu.check_symbolic_forward(sym, loc, [y + 1e-2], rtol=1e-5, atol=1e-6)
    head = rs.normal(size=y.shape)
    gz = head * (1 - y ** 2)
    expected = {"data": gz @ loc["fc_weight"], "fc_weight": gz.T @ loc["data"],
                "fc_bias": gz.sum(axis=0)}
    tu.check_symbolic_backward(sym, loc, [head], expected, rtol=1e-10, atol=1e-10,
                               dtype=np.float64)
    grads = tu.check_symbolic_backward(sym, loc, {"act_output": head}, expected, rtol=1e-4,
                                       atol=1e-5, grad_req="add")
    assert set(grads) == {"data", "fc_weight", "fc_bias"}
    wrong = dict(expected, fc_bias=expected["fc_bias"] * 1.01)
    with pytest.raises(AssertionError, match="BACKWARD_fc_bias"):
        tu.check_symbolic_backward(sym, loc, [head], wrong, rtol=1e-6, atol=1e-8,
                                   dtype=np.float64)
