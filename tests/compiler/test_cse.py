"""Common subexpression elimination (compiler/cse.py) and the executor that runs its graph."""
import numpy as np
import pytest

import mxc as mx
from mxc.compiler.cse import eliminate_common_expr
from mxc.compiler.graph import topo_order


def _ops(heads):
    return [n.op.name for n in topo_order(heads) if not n.is_variable]


a, b, c = (mx.sym.Variable(n) for n in "abc")


@pytest.mark.parametrize("build, saved", [
    (lambda: (a + 1) + (a + 2), 0),                       # different attributes: kept
    (lambda: (a + b) + (a + b), 1),
    (lambda: ((a + b) + c) + ((a + b) + c), 2),           # merged, then their consumers
    (lambda: (lambda d: mx.sym.Group([a * d, a * d]))(a + 1), 0),  # merged, then copied
    (lambda: mx.sym.Dropout(a) + mx.sym.Dropout(a), 0),   # random draws are never merged
    (lambda: mx.sym.BatchNorm(a, name="bn") + mx.sym.BatchNorm(a, name="bn"), 0),  # aux
])
def test_merged_node_counts(build, saved):
    sym = build()
    heads = eliminate_common_expr(sym._heads)
    assert len(_ops(sym._heads)) - len(_ops(heads)) == saved
    assert mx.sym.Group([mx.sym.Symbol([h]) for h in heads]).list_arguments() == \
        sym.list_arguments()


def test_duplicate_heads_get_named_copies_and_the_input_graph_is_untouched():
    d = a * (a + 1)
    e = a * (a + 1)
    sym = mx.sym.Group([d, e, e])
    before = sym.tojson()
    heads = eliminate_common_expr(sym._heads)
    assert sym.tojson() == before
    assert heads[0][0].op is d._heads[0][0].op and heads[0][0].name == d.name
    assert [h[0].op.name for h in heads[1:]] == ["_copy", "_copy"]
    assert [h[0].name for h in heads[1:]] == ["%s_0_copy" % d.name, "%s_1_copy" % d.name]
    assert heads[1][0].inputs[0][0] is heads[0][0]


@pytest.mark.parametrize("env", ["0", "1"])
def test_executor_results_are_those_of_the_plain_graph(monkeypatch, env):
    monkeypatch.setenv("MXNET_ELIMINATE_COMMON_EXPR", env)
    sym = mx.sym.Group([(a * b + c) * (a * b + c), a * b + c])
    rng = np.random.default_rng(0)
    vals = {k: rng.uniform(0.5, 1.5, (3, 4)) for k in "abc"}
    ex = sym.simple_bind(mx.cpu(), grad_req="write", **{k: (3, 4) for k in "abc"})
    outs = ex.forward(is_train=True, **vals)
    ex.backward([mx.nd.ones((3, 4)), mx.nd.ones((3, 4))])
    t = vals["a"] * vals["b"] + vals["c"]
    np.testing.assert_allclose(outs[0].asnumpy(), t * t, rtol=1e-5)
    np.testing.assert_allclose(outs[1].asnumpy(), t, rtol=1e-5)
    dt = 2 * t + 1
    np.testing.assert_allclose(ex.grad_dict["a"].asnumpy(), dt * vals["b"], rtol=1e-5)
    np.testing.assert_allclose(ex.grad_dict["c"].asnumpy(), dt, rtol=1e-5)
    internals = len(ex.get_optimized_symbol().get_internals())
    # a*b+c three times: two multiplications and two additions go
    assert internals == len(sym.get_internals()) - (4 if env == "1" else 0)
