"""Symbol JSON and attributes against files written by real MXNet 1.9.1 (its pip build):
every recorded `-symbol.json` re-serialises byte for byte, the same graphs built with mxc
give the same bytes, and attr / list_attr / attr_dict / listings give MXNet's answers."""
import json
import pathlib
import sys

import pytest

import mxc as mx
from test_lenet_mnist import lenet as lenet_symbol

RECORDED = pathlib.Path(__file__).parent / "mxnet_recorded"
sys.path.insert(0, str(RECORDED))
import recorded_graphs as graphs  # noqa: E402  (the builders MXNet ran)


def recorded_files(shared_dir):
    files = sorted((shared_dir / "mxnet").glob("*-symbol.json"))
    files += sorted(RECORDED.glob("*.json")) + sorted((RECORDED / "graphs").glob("*.json"))
    return [f for f in files if f.name != "attributes.json"]


def test_every_mxnet_written_file_reserialises_byte_for_byte(shared_dir, tmp_path):
    files = recorded_files(shared_dir)
    assert len(files) >= 9
    for path in files:
        text = path.read_text()
        np_flag = "is_np_shape" in json.loads(text)["attrs"]
        with mx.util.np_shape(np_flag):      # MXNet writes the flag of the saving scope
            sym = mx.sym.load(str(path))
            assert sym.tojson() == text, path.name
            out = tmp_path / path.name
            sym.save(str(out))
            assert out.read_text() == text, path.name
            assert mx.sym.load_json(sym.tojson()).tojson() == text, path.name


@pytest.mark.parametrize("name", sorted(graphs.GRAPHS))
def test_graphs_built_with_mxc_match_mxnet_byte_for_byte(name):
    want = (RECORDED / "graphs" / ("%s.json" % name)).read_text()
    assert graphs.GRAPHS[name](mx).tojson() == want


def test_attribute_queries_give_mxnet_answers():
    want = json.loads((RECORDED / "attributes.json").read_text())
    got = json.loads(json.dumps(graphs.attribute_queries(mx)))
    for graph in want:
        for query in want[graph]:
            assert got[graph][query] == want[graph][query], (graph, query)


def test_hidden_outputs_count_in_node_row_ptr_only():
    rows = json.loads((RECORDED / "graphs" / "pooling_variants.json").read_text())
    sizes = [b - a for a, b in zip(rows["node_row_ptr"], rows["node_row_ptr"][1:])]
    # data; max2d avg2d sum2d lp2d max1d max3d gmax gmax_kernel max_nchw: oneDNN's
    # workspace goes with max pooling of a given 1-3-D kernel in channel-first layout
    assert sizes == [1, 2, 1, 1, 1, 2, 2, 1, 2, 2]
    sym = mx.sym.load_json(json.dumps(rows))
    assert len(sym.list_outputs()) == 9                # the workspace is never an output
    assert sym.get_internals().list_outputs()[-1] == "max_nchw_output"


def test_lenet_and_bn_mlp_built_with_mxc_match_the_recorded_checkpoints(shared_dir):
    lenet = lenet_symbol(fc1_act="tanh")        # the recorded checkpoint's LeNet
    assert lenet.tojson() == (shared_dir / "mxnet" / "lenet-symbol.json").read_text()

    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=64, name="fc1")
    net = mx.sym.BatchNorm(net, name="bn1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Dropout(net, p=0.5, name="drop1")
    net = mx.sym.FullyConnected(net, num_hidden=32, name="fc2")
    net = mx.sym.BatchNorm(net, fix_gamma=False, momentum=0.8, eps=1e-5, name="bn2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=5, name="fc3")
    bn_mlp = mx.sym.SoftmaxOutput(net, name="softmax")
    assert bn_mlp.tojson() == (shared_dir / "mxnet" / "bn_mlp-symbol.json").read_text()


def test_groups_internals_and_items_survive_save_load_copy_and_pickle(tmp_path):
    import copy
    import pickle
    sym = graphs.internals_group(mx)
    text = sym.tojson()
    path = tmp_path / "g-symbol.json"
    sym.save(str(path))
    for clone in (mx.sym.load(str(path)), copy.copy(sym), copy.deepcopy(sym),
                  pickle.loads(pickle.dumps(sym)), sym[0:4], mx.sym.Group(list(sym))):
        assert clone.tojson() == text
        assert clone.list_outputs() == sym.list_outputs()
    item = mx.sym.load(str(path))["split_output2"]
    assert item.list_outputs() == ["split_output2"]
    assert item.list_arguments() == ["data", "fc_weight", "fc_bias"]


def test_outputs_counted_as_mxnet_counts_them():
    # node_row_ptr that MXNet 1.9.1 writes for one operator on a variable: sort keeps its
    # indices as a hidden output, RNN's reserve is not in the graph, avg pooling has none
    d = mx.sym.Variable("data")
    cases = [(mx.sym.sort(d), [0, 1, 3]),
             (mx.sym.RNN(d, state_size=2, num_layers=1, mode="lstm"), [0, 1, 2, 3, 4, 5]),
             (mx.sym.Pooling(d, kernel=(2, 2), pool_type="avg"), [0, 1, 2]),
             (mx.sym.Pooling(d, kernel=(2, 2), pool_type="max"), [0, 1, 3]),
             (mx.sym.BatchNorm(d), [0, 1, 2, 3, 4, 5, 8])]
    for sym, rows in cases:
        assert json.loads(sym.tojson())["node_row_ptr"] == rows, sym.name
