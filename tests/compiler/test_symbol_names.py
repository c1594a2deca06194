"""Names are validated where a symbol is made or loaded; malformed JSON is one MXNetError."""
import json

import pytest

import mxc as mx
from mxc.base import MXNetError

ODD_NAMES = ['q"uote', "back\\slash", "\u00e9t\u00e9 \u540d\u524d", "*/ end", "{{ x }}",
             "{% raw %}", "line\u2028sep", "it's", "a" * 300]


def odd_net():
    data = mx.sym.Variable(ODD_NAMES[0], attr={"__note{{__": 'v\n\t\x01"\\ */ {{ }}'})
    net = data
    for i, name in enumerate(ODD_NAMES[1:]):
        net = mx.sym.FullyConnected(net, name=name, num_hidden=2 + i)
    return mx.sym.SoftmaxOutput(net, name="out")


def test_odd_names_save_and_load_back_identically(tmp_path):
    net = odd_net()
    text = net.tojson()
    json.loads(text)                                   # strict JSON
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    assert back.list_arguments() == net.list_arguments()
    assert back.attr_dict() == net.attr_dict()
    prefix = str(tmp_path / "odd")
    arg_shapes, _, _ = net.infer_shape(**{ODD_NAMES[0]: (2, 3)})
    args = {n: mx.nd.zeros(s) for n, s in zip(net.list_arguments(), arg_shapes)
            if n not in (ODD_NAMES[0], "out_label")}
    mx.model.save_checkpoint(prefix, 1, net, args, {})
    sym, arg, _ = mx.model.load_checkpoint(prefix, 1)
    assert sym.tojson() == text and sorted(arg) == sorted(args)


@pytest.mark.parametrize("bad", ["a\x00b", "tab\there", "new\nline", "esc\x1b", "del\x7f",
                                 "c1\x85", "\ud800"])
def test_control_characters_in_names_are_refused_when_made(bad):
    with pytest.raises(MXNetError, match="U\\+"):
        mx.sym.Variable(bad)
    with pytest.raises(MXNetError, match="U\\+"):
        mx.sym.FullyConnected(mx.sym.Variable("x"), name=bad, num_hidden=2)
    with pytest.raises(MXNetError, match="U\\+"):
        mx.sym.Variable("x", attr={"__%s__" % bad: "1"})
    with pytest.raises(MXNetError, match="U\\+"):
        mx.sym.Variable("x")(name=bad)
    doc = {"nodes": [{"op": "null", "name": bad, "inputs": []}], "heads": [[0, 0, 0]]}
    with pytest.raises(MXNetError, match="U\\+"):
        mx.sym.load_json(json.dumps(doc))


def test_nul_in_an_attribute_value_is_refused():
    with pytest.raises(MXNetError, match="U\\+0000"):
        mx.sym.Variable("x", attr={"__a__": "x\x00"})
    with pytest.raises(MXNetError, match="U\\+0000"):
        mx.sym.Variable("x")._set_attr(__a__="\x00")


FC = {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "2"},
      "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}
VARS = [{"op": "null", "name": n, "inputs": []} for n in ("data", "fc_weight", "fc_bias")]


def doc_with(**change):
    doc = {"nodes": VARS + [dict(FC)], "heads": [[3, 0, 0]],
           "attrs": {"mxnet_version": ["int", 10901]}}
    for key, value in change.items():
        if key.startswith("fc_"):
            doc["nodes"][3][key[3:]] = value
        else:
            doc[key] = value
    return json.dumps(doc)


MALFORMED = {
    "not json": "{",
    "nodes not a list": doc_with(nodes={"a": 1}),
    "node not a dict": json.dumps({"nodes": [3], "heads": [[0, 0, 0]]}),
    "op not a string": doc_with(fc_op=["FullyConnected"]),
    "name not a string": doc_with(fc_name=7),
    "attrs not a dict": doc_with(fc_attrs=["num_hidden", "2"]),
    "attr value a list": doc_with(fc_attrs={"num_hidden": [2]}),
    "inputs not a list": doc_with(fc_inputs=5),
    "input entry short": doc_with(fc_inputs=[[0]]),
    "input entry strings": doc_with(fc_inputs=[["0", 0, 0], [1, 0, 0], [2, 0, 0]]),
    "input out of range": doc_with(fc_inputs=[[9, 0, 0], [1, 0, 0], [2, 0, 0]]),
    "input negative": doc_with(fc_inputs=[[-1, 0, 0], [1, 0, 0], [2, 0, 0]]),
    "self reference (a cycle)": doc_with(fc_inputs=[[3, 0, 0], [1, 0, 0], [2, 0, 0]]),
    "missing output": doc_with(fc_inputs=[[0, 4, 0], [1, 0, 0], [2, 0, 0]]),
    "heads malformed": doc_with(heads=[3, 0, 0]),
    "head out of range": doc_with(heads=[[4, 0, 0]]),
    "head output missing": doc_with(heads=[[3, 1, 0]]),
    "no heads": doc_with(heads=[]),
    "graph attrs a list": doc_with(attrs=[1]),
    "bad version": doc_with(attrs={"mxnet_version": ["int", "x"]}),
    "deep nesting": "[" * 100000 + "]" * 100000,
    "num_hidden 1e400": doc_with(fc_attrs={"num_hidden": "1e400"}),
    "num_hidden number 1e400": doc_with(fc_attrs={"num_hidden": 1e400}),
    "unknown op": doc_with(fc_op="NoSuchOp"),
    "not utf-8": b'{"nodes": [{"op": "null", "name": "\xff"}], "heads": [[0, 0, 0]]}',
    "lone surrogate": '{"nodes": [{"op": "null", "name": "\\ud800"}], "heads": [[0, 0, 0]]}',
    "not text": 12,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_is_one_clear_error(case, tmp_path):
    text = MALFORMED[case]
    with pytest.raises(MXNetError):
        mx.sym.load_json(text)
    if isinstance(text, int):
        return
    path = tmp_path / "bad-symbol.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(MXNetError, match="bad-symbol.json"):
        mx.sym.load(str(path))


def test_errors_name_the_node():
    with pytest.raises(MXNetError, match=r"node 3 \('fc'\).*inputs"):
        mx.sym.load_json(doc_with(fc_inputs=5))
    with pytest.raises(MXNetError, match=r"'fc'.*num_hidden"):
        mx.sym.load_json(doc_with(fc_attrs={"num_hidden": "1e400"}))
    with pytest.raises(MXNetError, match="earlier|before it"):
        mx.sym.load_json(doc_with(fc_inputs=[[3, 0, 0], [1, 0, 0], [2, 0, 0]]))
    assert mx.sym.load_json(doc_with()).list_arguments() == ["data", "fc_weight", "fc_bias"]
