"""mx.viz: print_summary's table and plot_network's graph, as MXNet prints and draws them."""
import builtins

import pytest

import mxc as mx


def _net():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=64)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=26)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def test_print_summary(capsys):
    mx.viz.print_summary(_net(), shape={"data": (32, 16)})
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if "(" in line and "Layer" not in line]
    assert rows == [["data(null)", "16", "0"],
                    ["fc1(FullyConnected)", "64", "1088", "data"],
                    ["relu1(Activation)", "64", "0", "fc1"],
                    ["fc2(FullyConnected)", "26", "1690", "relu1"],
                    ["softmax(SoftmaxOutput)", "26", "0", "fc2"]]
    assert "Total params: 2778" in lines
    assert lines[0] == "_" * 120 and lines[2] == "=" * 120
    header = lines[1]
    assert header.index("Output Shape") == 52 and header.index("Param #") == 76


def test_plot_network():
    graphviz = pytest.importorskip("graphviz", reason="optional extra mxc[viz] not installed")
    dot = mx.viz.plot_network(_net(), shape={"data": (32, 16)})
    assert isinstance(dot, graphviz.Digraph)
    src = dot.source
    assert 'fc1 [label="FullyConnected\n64"' in src and "#fb8072" in src
    assert 'relu1 [label="Activation\nrelu"' in src and "#ffffb3" in src
    assert "softmax_label" in src and "fc1_weight" not in src
    assert "fc1 -> data [label=16 arrowtail=open dir=back]" in src
    assert "softmax -> fc2 [label=26 arrowtail=open dir=back]" in src


def test_plot_network_without_graphviz(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="Draw network requires graphviz"):
        mx.viz.plot_network(_net())
