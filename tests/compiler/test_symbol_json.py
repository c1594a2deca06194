"""Symbol construction, naming, listing, shapes and MXNet's JSON format."""
import json
import re

import pytest

import mxc as mx


def tutorial_net():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=64)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=26)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def reference_json(shared_dir):
    text = (shared_dir / "reference" / "mxnet-module-reference.md").read_text()
    m = re.search(r"```json\n(\{\n  \"nodes\".*?)\n```", text, re.S)
    return m.group(1)


def test_tutorial_json_is_byte_identical_to_mxnet(shared_dir):
    assert tutorial_net().tojson() == reference_json(shared_dir)


def test_listing_and_shapes():
    net = tutorial_net()
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight",
                                    "fc2_bias", "softmax_label"]
    assert net.list_outputs() == ["softmax_output"]
    assert net.list_auxiliary_states() == []
    args, outs, aux = net.infer_shape(data=(32, 16))
    assert args == [(32, 16), (64, 16), (64,), (26, 64), (26,), (32,)]
    assert outs == [(32, 26)] and aux == []
    assert net.get_internals().list_outputs() == [
        "data", "fc1_weight", "fc1_bias", "fc1_output", "relu1_output", "fc2_weight",
        "fc2_bias", "fc2_output", "softmax_label", "softmax_output"]
    assert net.get_internals()["fc1_output"].list_outputs() == ["fc1_output"]
    assert [s.name for s in net.get_children()] == ["fc2", "softmax_label"]


def test_automatic_names_and_copied_attributes():
    with mx.name.NameManager():
        x = mx.sym.Variable("x")
        a = mx.sym.FullyConnected(x, num_hidden=3)
        b = mx.sym.FullyConnected(a, num_hidden=2)
        c = mx.sym.Activation(b, act_type="tanh")
    assert (a.name, b.name, c.name) == ("fullyconnected0", "fullyconnected1", "activation0")
    assert b.list_arguments() == ["x", "fullyconnected0_weight", "fullyconnected0_bias",
                                  "fullyconnected1_weight", "fullyconnected1_bias"]
    assert c.attr_dict()["fullyconnected1_weight"] == {"num_hidden": "2"}
    with mx.name.Prefix("p_"):
        d = mx.sym.FullyConnected(x, num_hidden=3, name="fc")
    assert d.name == "p_fc" and "p_fc_weight" in d.list_arguments()


def test_variable_attributes():
    v = mx.sym.Variable("w", shape=(3, 4), lr_mult=2.0, wd_mult=0.0, dtype="float16",
                        init=mx.init.Xavier(), attr={"mood": "x"})
    node = json.loads(v.tojson())["nodes"][0]
    assert node["attrs"]["__shape__"] == "(3, 4)"
    assert node["attrs"]["__lr_mult__"] == "2.0" and node["attrs"]["__wd_mult__"] == "0.0"
    assert node["attrs"]["__dtype__"] == "2" and node["attrs"]["mood"] == "x"
    assert json.loads(node["attrs"]["__init__"])[0] == "xavier"
    with pytest.raises(ValueError):
        mx.sym.Variable("w", foo=1)


def test_group_and_multi_line_maps():
    x = mx.sym.Variable("x")
    a = mx.sym.FullyConnected(x, num_hidden=3, name="a", attr={"ctx_group": "dev1"})
    b = mx.sym.Activation(x, act_type="relu", name="b")
    g = mx.sym.Group([a, b])
    assert g.list_outputs() == ["a_output", "b_output"]
    assert len(g) == 2 and g[1].name == "b"
    text = g.tojson()
    assert '"attrs": {\n' in text           # two attributes: a multi-line map
    assert '"heads": [[3, 0, 0], [4, 0, 0]]' in text
    assert mx.sym.load_json(text).tojson() == text
    with pytest.raises(TypeError):
        mx.sym.Group([])


def test_save_load_roundtrip(tmp_path):
    net = tutorial_net()
    path = tmp_path / "net-symbol.json"
    net.save(str(path))
    assert path.read_text() == net.tojson()           # no trailing newline
    assert mx.sym.load(str(path)).tojson() == net.tojson()


def test_mxnet_written_symbols_roundtrip(shared_dir):
    text = (shared_dir / "mxnet" / "mx_mlp-symbol.json").read_text()
    sym = mx.sym.load_json(text)
    manifest = json.loads((shared_dir / "mxnet" / "manifest.json").read_text())
    assert sym.list_arguments() == manifest["nets"]["mx_mlp"]["list_arguments"]
    assert json.loads(sym.tojson()) == json.loads(text)


def test_legacy_json_is_upgraded():
    legacy = {
        "nodes": [
            {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
            {"op": "FullyConnected", "param": {"num_hidden": "4", "no_bias": "False"},
             "name": "fc", "inputs": [[0, 0]], "backward_source_id": -1,
             "attr": {"weight_lr_mult": "0.5"}},
        ],
        "arg_nodes": [0],
        "heads": [[1, 0]],
    }
    sym = mx.sym.load_json(json.dumps(legacy))
    assert sym.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert sym.attr_dict()["fc_weight"]["__lr_mult__"] == "0.5"
    assert sym.infer_shape(data=(2, 3))[1] == [(2, 4)]


@pytest.mark.parametrize("text,match", [
    ("{not json", "invalid symbol JSON"),
    ('{"nodes": [{"op": "NoSuchOp", "name": "z", "inputs": []}], "heads": [[0, 0, 0]]}',
     "NoSuchOp"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}], "heads": [[5, 0, 0]]}',
     "head"),
    ('{"nodes": [{"op": "FullyConnected", "name": "f", "inputs": [[3, 0, 0]]}], '
     '"heads": [[0, 0, 0]]}', "input"),
])
def test_corrupt_json_raises_clear_errors(text, match):
    with pytest.raises(mx.base.MXNetError, match=match):
        mx.sym.load_json(text)


def test_corrupt_symbol_file_names_the_file(tmp_path):
    path = tmp_path / "bad-symbol.json"
    path.write_text(tutorial_net().tojson()[:100])
    with pytest.raises(mx.base.MXNetError, match="bad-symbol.json"):
        mx.sym.load(str(path))


def test_shape_errors_name_node_input_and_shapes():
    net = tutorial_net()
    with pytest.raises(mx.base.MXNetError,
                       match=r"fc1.*FullyConnected.*weight.*\(64, 15\).*\(64, 16\)"):
        net.infer_shape(data=(32, 16), fc1_weight=(64, 15))
    with pytest.warns(UserWarning):
        assert net.infer_shape() == (None, None, None)
    args, outs, _ = net.infer_shape_partial()
    assert args[0] == () and outs == [()]


def test_required_parameter_missing():
    with pytest.raises(mx.base.MXNetError, match="num_hidden"):
        mx.sym.FullyConnected(mx.sym.Variable("x"))
    with pytest.raises(mx.base.MXNetError, match="act_type"):
        mx.sym.Activation(mx.sym.Variable("x"), act_type="nope")
