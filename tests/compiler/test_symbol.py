"""Symbol-level behaviour of the tensor operators: Python operators, default names, JSON."""
import json

import pytest

import mxc as mx


@pytest.fixture(autouse=True)
def fresh_names():
    with mx.name.NameManager():
        yield


def _ops_and_attrs(sym):
    nodes = json.loads(sym.tojson())["nodes"]
    return [(n["op"], n["name"], n.get("attrs", {})) for n in nodes if n["op"] != "null"]


def test_python_operators_map_to_mxnet_ops_and_names():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    cases = [(x + y, "elemwise_add", "_plus0", {}), (x - y, "elemwise_sub", "_minus0", {}),
             (x * y, "elemwise_mul", "_mul0", {}), (x / y, "elemwise_div", "_div0", {}),
             (x ** y, "_power", "_power0", {}),
             (x + 1, "_plus_scalar", "_plusscalar0", {"scalar": "1"}),
             (1 + x, "_plus_scalar", "_plusscalar1", {"scalar": "1"}),
             (x - 2, "_minus_scalar", "_minusscalar0", {"scalar": "2"}),
             (2 - x, "_rminus_scalar", "_rminusscalar0", {"scalar": "2"}),
             (x * 2.5, "_mul_scalar", "_mulscalar0", {"scalar": "2.5"}),
             (x / 2, "_div_scalar", "_divscalar0", {"scalar": "2"}),
             (2 / x, "_rdiv_scalar", "_rdivscalar0", {"scalar": "2"}),
             (x ** 2, "_power_scalar", "_powerscalar0", {"scalar": "2"}),
             (2 ** x, "_rpower_scalar", "_rpower_scalar0", {"scalar": "2"}),
             (-x, "_mul_scalar", "_mulscalar1", {"scalar": "-1.0"}),
             (abs(x), "abs", "abs0", {})]
    for sym, op, name, attrs in cases:
        assert _ops_and_attrs(sym) == [(op, name, attrs)]
        assert sym.list_outputs() == [name + "_output"]
    assert (x + y).list_arguments() == ["x", "y"]
    assert (2 - x).list_arguments() == ["x"]


def test_function_names_and_aliases_give_mxnet_hints():
    x = mx.sym.Variable("x")
    assert mx.sym.split(x, num_outputs=2).list_outputs() == ["split0_output0", "split0_output1"]
    assert _ops_and_attrs(mx.sym.split(x, num_outputs=2))[0][:2] == ("SliceChannel", "split1")
    c = mx.sym.concat(x, x, dim=0)
    assert _ops_and_attrs(c) == [("Concat", "concat0", {"dim": "0", "num_args": "2"})]
    assert mx.sym.Reshape(x, shape=(0, -1)).name == "reshape0"
    assert mx.sym.reshape(x, shape=(0, -1)).name == "reshape1"
    assert mx.sym.Flatten(x).name == "flatten0" and mx.sym.flatten(x).name == "flatten1"
    assert mx.sym.sum(x, axis=1).name == "sum0"
    assert mx.sym.broadcast_add(x, x).name == "broadcast_add0"
    auto = mx.sym.Concat(num_args=2, dim=1, name="cx")
    assert auto.list_arguments() == ["cx_arg0", "cx_arg1"]


def test_method_forms():
    x = mx.sym.Variable("x")
    r = x.reshape(shape=(-1,)).exp().sum(axis=0, keepdims=True)
    ops = [o for o, _, _ in _ops_and_attrs(r)]
    assert ops == ["Reshape", "exp", "sum"]
    _, out, _ = r.infer_shape(x=(2, 3))
    assert out == [(1,)]


def test_json_round_trip_and_legacy_op_names():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    sym = mx.sym.broadcast_mul(mx.sym.transpose(x * 2 - y, axes=(1, 0)), mx.sym.sum(y, axis=0))
    text = sym.tojson()
    assert mx.sym.load_json(text).tojson() == text
    legacy = {"nodes": [{"op": "null", "name": "a", "inputs": []},
                        {"op": "null", "name": "b", "inputs": []},
                        {"op": "_Plus", "name": "p", "inputs": [[0, 0], [1, 0]]},
                        {"op": "_MulScalar", "name": "m", "param": {"scalar": "3"},
                         "inputs": [[2, 0]]}],
              "arg_nodes": [0, 1], "heads": [[3, 0]]}
    loaded = mx.sym.load_json(json.dumps(legacy))
    assert loaded.list_arguments() == ["a", "b"]
    assert [o for o, _, _ in _ops_and_attrs(loaded)] == ["elemwise_add", "_mul_scalar"]
    _, out, _ = loaded.infer_shape(a=(2, 3), b=(2, 3))
    assert out == [(2, 3)]
