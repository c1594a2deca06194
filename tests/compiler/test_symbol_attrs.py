"""Symbol attributes as MXNet 1.9 keeps them: system keys (lr_mult, wd_mult, ctx_group, ...)
stored as `__key__` and found under both names, attribute scopes, `_set_attr`, and how the
attributes appear in attr_dict and in the JSON text.

The expectations are MXNet 1.9.1's documented behaviour, written out by hand."""
import json
import threading
import warnings

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError


def node_attrs(sym, name):
    """The attrs object of node `name` in the JSON text (what a file holds)."""
    nodes = json.loads(sym.tojson())["nodes"]
    return [n.get("attrs", {}) for n in nodes if n["name"] == name][0]


def test_variable_system_keys_are_stored_hidden_and_found_by_both_names():
    with mx.AttrScope(group="4", data="great"):
        data = mx.sym.Variable("data", attr={"dtype": "data", "group": "1",
                                             "force_mirroring": "True"}, lr_mult=1)
        other = mx.sym.Variable("data2")
    assert other.attr("group") == "4" and other.attr("data") == "great"
    assert data.attr("group") == "1"                       # attr beats the scope
    assert data.attr("lr_mult") == "1" and data.attr("__lr_mult__") == "1"
    assert data.attr("force_mirroring") == "True"
    assert data.attr("__force_mirroring__") == "True"
    assert data.attr("missing") is None and data.attr("name") == "data"
    # the file holds the hidden spelling only; list_attr shows both
    assert node_attrs(data, "data") == {"__force_mirroring__": "True", "__lr_mult__": "1",
                                        "data": "great", "dtype": "data", "group": "1"}
    assert data.list_attr() == {"__force_mirroring__": "True", "force_mirroring": "True",
                                "__lr_mult__": "1", "lr_mult": "1", "data": "great",
                                "dtype": "data", "group": "1"}
    with pytest.raises(DeprecationWarning):
        data.list_attr(recursive=True)


def test_operator_system_keywords_and_attr_reach_the_node_and_its_new_variables():
    data = mx.sym.Variable("data", attr={"mood": "angry"})
    op = mx.sym.Convolution(data=data, name="conv", kernel=(1, 1), num_filter=1,
                            attr={"__mood__": "so so", "wd_mult": "x"}, lr_mult=1)
    assert op.list_attr() == {"kernel": "(1, 1)", "num_filter": "1", "__mood__": "so so",
                              "__wd_mult__": "x", "wd_mult": "x", "__lr_mult__": "1",
                              "lr_mult": "1"}
    dicts = op.attr_dict()
    assert dicts["data"] == {"mood": "angry"}
    assert dicts["conv_weight"] == dicts["conv_bias"] == dicts["conv"]
    assert node_attrs(op, "conv") == {"kernel": "(1, 1)", "num_filter": "1",
                                      "__mood__": "so so", "__wd_mult__": "x",
                                      "__lr_mult__": "1"}
    # the optimizer reads the multiplier of the new weight variable
    fc = mx.sym.FullyConnected(data, num_hidden=2, name="fc", lr_mult=2)
    opt = mx.optimizer.SGD(sym=fc, param_idx2name={0: "fc_weight", 1: "fc_bias"})
    assert opt.lr_mult == {"fc_weight": 2.0, "fc_bias": 2.0}


def test_per_input_multiplier_keywords_are_refused_as_mxnet_refuses_them():
    with pytest.raises(MXNetError, match="weight_lr_mult is deprecated"):
        mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=2, weight_lr_mult=2)


def test_scopes_nest_restore_and_are_per_thread():
    with mx.AttrScope(ctx_group="dev1", __a__="1"):
        with mx.AttrScope(__a__="2", __b__="3"):
            inner = mx.sym.Variable("inner")
            op = inner * 2
        outer = mx.sym.Variable("outer")
    after = mx.sym.Variable("after")
    assert inner.list_attr() == {"__ctx_group__": "dev1", "ctx_group": "dev1", "__a__": "2",
                                 "__b__": "3"}
    assert op.attr("ctx_group") == "dev1" and op.attr("__b__") == "3"
    assert node_attrs(op, op.name) == {"__ctx_group__": "dev1", "__a__": "2", "__b__": "3",
                                       "scalar": "2"}
    assert outer.list_attr() == {"__ctx_group__": "dev1", "ctx_group": "dev1", "__a__": "1"}
    # an operator refuses a plain key that is not one of its parameters, as MXNet does
    with mx.AttrScope(plain="1"):
        with pytest.raises(MXNetError, match="unknown parameter 'plain'"):
            inner * 2
    assert after.list_attr() == {}
    with pytest.raises(ValueError):
        mx.AttrScope(x=1)

    seen = []
    with mx.AttrScope(where="main"):
        worker = threading.Thread(target=lambda: seen.append(
            mx.sym.Variable("t").list_attr()))
        worker.start()
        worker.join()
    assert seen == [{}]


def test_class_level_current_scope_is_read_and_assigned_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = mx.AttrScope.current
        try:
            mx.AttrScope.current = mx.AttrScope(y="hi")
            assert mx.sym.Variable("v").attr("y") == "hi"
            assert mx.AttrScope.current._attr == {"y": "hi"}
        finally:
            mx.AttrScope.current = saved
    assert mx.sym.Variable("v").attr("y") is None
    assert all(issubclass(w.category, DeprecationWarning) for w in caught) and caught


def test_set_attr_renames_hides_system_keys_and_rolls_back_bad_parameters():
    x = mx.sym.Variable("x")
    fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
    fc._set_attr(lr_mult="0.5", __note__="n", name="dense")
    assert fc.name == "dense" and fc.attr("__lr_mult__") == "0.5"
    assert fc.attr("lr_mult") == "0.5" and fc.attr("__note__") == "n"
    fc._set_attr(num_hidden="6")                       # a parameter: re-parsed
    assert fc.infer_shape(x=(2, 3))[1] == [(2, 6)]
    with pytest.raises(MXNetError, match="num_hidden"):
        fc._set_attr(num_hidden="six")
    with pytest.raises(MXNetError, match="unknown parameter 'note'"):
        fc._set_attr(note="n", name="other")
    assert fc.attr("num_hidden") == "6" and fc.name == "dense" and fc.attr("note") is None
    with pytest.raises(ValueError):
        fc._set_attr(__note__=3)
    group = mx.sym.Group([x, fc])
    assert group.attr("name") is None
    with pytest.raises(MXNetError, match="non-grouped"):
        group._set_attr(__note__="g")


def test_numpy_numbers_are_written_as_mxnet_writes_python_numbers():
    x = mx.sym.Variable("x", shape=(np.int64(2), np.int32(3)), lr_mult=np.float32(0.5),
                        wd_mult=np.int64(0), dtype=np.float16)
    assert node_attrs(x, "x") == {"__shape__": "(2, 3)", "__lr_mult__": "0.5",
                                  "__wd_mult__": "0", "__dtype__": "2"}
    conv = mx.sym.Convolution(x, kernel=(np.int64(1), np.int64(1)),
                              num_filter=np.int64(2), stride=[np.int64(1), 1], name="c")
    assert node_attrs(conv, "c") == {"kernel": "(1, 1)", "num_filter": "2",
                                     "stride": "[1, 1]"}
    assert (x * np.float32(3)).attr("scalar") == "3.0"
    assert (x + np.int64(4)).attr("scalar") == "4"
    assert (np.float64(2.5) - x).attr("scalar") == "2.5"


def test_python_operators_with_numbers_on_either_side():
    with mx.name.NameManager():
        a = mx.sym.Variable("a")
        cases = [(2 - a, "_rminus_scalar", "_rminusscalar0", "2"),
                 (a ** 2, "_power_scalar", "_powerscalar0", "2"),
                 (2 ** a, "_rpower_scalar", "_rpower_scalar0", "2"),
                 (-a, "_mul_scalar", "_mulscalar0", "-1.0"),
                 (1.5 / a, "_rdiv_scalar", "_rdivscalar0", "1.5"),
                 (np.float32(3) * a, "_mul_scalar", "_mulscalar1", "3.0")]
        for sym, op, name, scalar in cases:
            node = json.loads(sym.tojson())["nodes"][-1]
            assert (node["op"], node["name"], node["attrs"]) == (op, name,
                                                                 {"scalar": scalar})
        assert json.loads(abs(a).tojson())["nodes"][-1]["op"] == "abs"
    with pytest.raises(TypeError):
        a + "text"
    with pytest.raises(mx.base.NotImplementedForSymbol):
        bool(a)
    with pytest.raises(mx.base.NotImplementedForSymbol):
        a += 1


def test_children_items_and_copies():
    a, b, d = (mx.sym.Variable(n) for n in "abd")
    with mx.name.NameManager():
        c = a + b
        e = d + c
    assert e.name == "_plus1"
    assert e.get_children().list_outputs() == ["d", "_plus0_output"]
    assert c.get_children().list_outputs() == ["a", "b"]
    assert a.get_children() is None
    split = mx.sym.SliceChannel(a, num_outputs=3, name="s")
    assert split.name == "s" and split.get_children().list_outputs() == ["a"]
    group = mx.sym.Group([e, split[2]])
    assert group.name is None
    assert group.get_children().list_outputs() == ["d", "_plus0_output", "a"]
    assert group["s_output2"].list_outputs() == ["s_output2"]
    assert [s.list_outputs() for s in group] == [["_plus1_output"], ["s_output2"]]
    assert group[-1].list_outputs() == ["s_output2"]
    with pytest.raises(ValueError, match="Cannot find output"):
        group["nope"]
    with pytest.raises(ValueError, match="multiple outputs"):
        mx.sym.Group([a, a])["a"]
    with pytest.raises(IndexError):
        group[2]
    with pytest.raises(TypeError):
        group[1.0]
    import copy
    import pickle
    for clone in (copy.copy(group), copy.deepcopy(group), pickle.loads(pickle.dumps(group))):
        assert clone.tojson() == group.tojson()
        clone._heads[0][0].name = "renamed"        # a copy shares no node with the original
        assert group.list_outputs()[0] == "_plus1_output"


def test_atomic_symbols_are_refused_for_variables_and_groups_and_compose_like_operators():
    d = mx.sym.Variable("data")
    with pytest.raises(MXNetError, match="from variable"):
        d._gen_atomic_symbol()
    fc = mx.sym.FullyConnected(d, num_hidden=3, name="fc", lr_mult=2)
    with pytest.raises(MXNetError, match="from other symbol"):
        mx.sym.Group([fc, d])._gen_atomic_symbol()
    atom = fc._gen_atomic_symbol()
    assert (atom.name, atom.list_arguments(), atom.list_outputs()) == ("", [], ["output"])
    again = atom(d, name="fc2")
    assert again.tojson() == mx.sym.FullyConnected(d, num_hidden=3, name="fc2",
                                                   lr_mult=2).tojson()
    assert mx.sym.load_json(atom.tojson()).list_arguments() == []


def test_operator_functions_do_not_hide_python_builtins():
    a = mx.sym.Variable("a")
    assert mx.sym.slice is mx.sym.slice and mx.sym.abs is mx.sym.abs
    mx.sym.max, mx.sym.min, mx.sym.round  # noqa: B018 (made once, cached)
    group = mx.sym.Group([a, a * 2, abs(a)])
    assert group[0:2].list_outputs() == ["a", group.list_outputs()[1]]
    assert abs(a).list_outputs()[0].startswith("abs")


def test_ndarray_only_methods_are_refused_and_astype_casts():
    x = mx.sym.Variable("x")
    for method, args in (("asnumpy", ()), ("asscalar", ()), ("copy", ()), ("detach", ()),
                         ("backward", ()), ("wait_to_read", ()),
                         ("as_in_context", (mx.cpu(),))):
        with pytest.raises(mx.base.NotImplementedForSymbol, match=method):
            getattr(x, method)(*args)
    cast = x.astype("float16")
    assert json.loads(cast.tojson())["nodes"][-1]["op"] == "Cast"
    assert cast.list_attr() == {"dtype": "float16"}


def test_composition_replaces_free_variables_in_a_copy_or_in_place():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    act = mx.sym.Activation(y, act_type="relu", name="act")
    composed = net(data=act, name="fc2")
    assert composed.list_arguments() == ["y", "fc_weight", "fc_bias"]
    assert composed.name == "fc2" and net.name == "fc"
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias"]   # the original stays
    net._compose(data=x)
    assert net.list_arguments() == ["x", "fc_weight", "fc_bias"]
    with pytest.raises(TypeError):
        net(x, data=y)
    with pytest.raises(TypeError):
        net(data=3)
    with pytest.raises(MXNetError, match="group of 2 outputs"):
        net(data=mx.sym.Group([x, y]))


def test_name_manager_current_is_per_thread_and_assignable():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        saved = mx.name.NameManager.current
        try:
            mx.name.NameManager.current = mx.name.NameManager()
            assert mx.name.NameManager.current.get(None, "main") == "main0"
            seen = []

            def worker():
                seen.append(mx.name.NameManager.current.get(None, "main"))
                seen.append(mx.sym.Activation(mx.sym.Variable("x"), act_type="relu").name)
            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            assert seen == ["main0", "activation0"]          # a thread starts afresh
            assert mx.name.NameManager.current.get(None, "main") == "main1"
            with mx.name.Prefix("p_"):
                assert mx.sym.Activation(mx.sym.Variable("x"), act_type="relu").name == \
                    "p_activation0"
            assert mx.sym.Activation(mx.sym.Variable("x"), act_type="relu").name == \
                "activation0"
        finally:
            mx.name.NameManager.current = saved


def test_special_attribute_keys_and_load_json_argument_type():
    a = mx.sym.Variable("a")
    split = mx.sym.SliceChannel(a, num_outputs=2, name="s")
    assert (a.attr("op_name"), split.attr("op_name")) == ("null", "SliceChannel")
    assert (split.attr("_value_index"), split[1].attr("_value_index")) == ("0, 1", "1")
    assert mx.sym.Group([split, a]).attr("op_name") is None
    with pytest.raises(TypeError):
        mx.sym.load_json(3)
