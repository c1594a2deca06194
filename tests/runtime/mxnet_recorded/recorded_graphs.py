"""Graphs and attribute queries whose results real MXNet 1.9.1 recorded in this folder.

Each builder takes the module (`mxnet`, or `mxc` as mx) and returns a symbol; `record.py`
ran them under MXNet 1.9.1 (pip wheel, NumPy 1.23) and wrote `graphs/NAME.json` (tojson())
and `attributes.json`; the tests run the same builders under mxc and compare byte for byte.
"""
import numpy as np


def _names(mx):
    return mx.name.NameManager()


def pooling_variants(mx):
    """Which Pooling nodes carry oneDNN's hidden workspace output."""
    d = mx.sym.Variable("data")
    outs = [mx.sym.Pooling(d, kernel=(2, 2), pool_type="max", name="max2d"),
            mx.sym.Pooling(d, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="avg2d"),
            mx.sym.Pooling(d, kernel=(2, 2), pool_type="sum", name="sum2d"),
            mx.sym.Pooling(d, kernel=(2, 2), pool_type="lp", p_value=2, name="lp2d"),
            mx.sym.Pooling(d, kernel=(3,), pool_type="max", name="max1d"),
            mx.sym.Pooling(d, kernel=(2, 2, 2), pool_type="max", name="max3d"),
            mx.sym.Pooling(d, global_pool=True, pool_type="max", name="gmax"),
            mx.sym.Pooling(d, kernel=(1, 1), global_pool=True, pool_type="max",
                           name="gmax_kernel"),
            mx.sym.Pooling(d, kernel=(2, 2), pool_type="max", layout="NCHW", name="max_nchw")]
    return mx.sym.Group(outs)


def hidden_outputs(mx):
    """Layers with hidden outputs, used by later layers."""
    d = mx.sym.Variable("data")
    h = mx.sym.BatchNorm(d, name="bn", output_mean_var=True)
    h = mx.sym.Dropout(h[0], p=0.25, name="drop")
    h = mx.sym.LRN(h, nsize=3, name="lrn")
    h = mx.sym.LeakyReLU(h, act_type="rrelu", name="rrelu")
    h = mx.sym.Pooling(h[0], kernel=(2, 2), pool_type="max", name="pool")
    return mx.sym.Group([h, mx.sym.L2Normalization(h, name="l2")])


def internals_group(mx):
    """A group of internal outputs, a multi-output op and its items."""
    d = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(d, num_hidden=6, name="fc")
    parts = mx.sym.SliceChannel(fc, num_outputs=3, name="split")
    act = mx.sym.Activation(parts[1], act_type="tanh", name="act")
    out = mx.sym.SoftmaxOutput(act, name="softmax")
    internals = out.get_internals()
    return mx.sym.Group([internals["fc_output"], parts[2], internals["act_output"], out])


def scalar_arithmetic(mx):
    """Python operators with numbers on both sides, automatic names."""
    with _names(mx):
        a = mx.sym.Variable("a")
        b = mx.sym.Variable("b")
        c = 2 - a
        c = c ** 2 + 2 ** b
        c = -c / 4
        c = 1.5 / abs(c) - a * b
        c = c * np.float32(3) + np.int64(2)
        return c


def attribute_scopes(mx):
    """System attributes on variables, operators and scopes; NumPy numbers as values."""
    with _names(mx):
        data = mx.sym.Variable("data", shape=(np.int64(8), 4), dtype="float16",
                               lr_mult=np.float32(0.5), attr={"mood": "calm"})
        with mx.AttrScope(ctx_group="dev1", __group__="a"):
            w = mx.sym.Variable("w", wd_mult=0, init=mx.init.Constant(0.5))
            fc = mx.sym.FullyConnected(data, weight=w, num_hidden=np.int64(3), lr_mult=2,
                                       attr={"force_mirroring": "True"})
            with mx.AttrScope(ctx_group="dev2"):
                conv = mx.sym.Convolution(mx.sym.Reshape(fc, shape=(0, 1, 3, 1)),
                                          kernel=(np.int64(1), np.int64(1)),
                                          num_filter=np.int64(2), stride=[np.int64(1), 1],
                                          pad=(0, 0))
        out = mx.sym.LinearRegressionOutput(mx.sym.Flatten(conv), name="lro")
        out._set_attr(__note__="x", name="out")
        return out


def shared_aux_states(mx):
    """An auxiliary state mutated by two layers (its version counts in debug_str)."""
    d = mx.sym.Variable("data")
    mean = mx.sym.Variable("shared_mean")
    h = mx.sym.BatchNorm(d, moving_mean=mean, name="bn1")
    h = mx.sym.BatchNorm(h, moving_mean=mean, name="bn2", output_mean_var=True)
    return mx.sym.Group([h[0], h[2]])


def positional_parameters(mx):
    """Numbers given positionally after the inputs are the operator's parameters in order."""
    with _names(mx):
        d = mx.sym.Variable("data")
        h = mx.sym.Dropout(d, 0.25)
        h = mx.sym.clip(h, 0, 1.5)
        h = mx.sym.slice_axis(h, 1, 0, 2)
        h = h.reshape((0, -1))
        return mx.sym.FullyConnected(h, None, None, 4, True)


def variable_inputs_and_recurrent(mx):
    """Operators with a variable number of inputs, and the fused RNN with state outputs."""
    with _names(mx):
        a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
        cat = mx.sym.Concat(a, b, dim=1)
        total = mx.sym.add_n(a, b, a)
        seq = mx.sym.Variable("seq")
        rnn = mx.sym.RNN(seq, state_size=4, num_layers=1, mode="lstm", state_outputs=True,
                         name="lstm")
        gru = mx.sym.RNN(seq, state_size=3, num_layers=2, mode="gru", bidirectional=True,
                         name="gru")
        emb = mx.sym.Embedding(mx.sym.Variable("ids"), input_dim=10, output_dim=4, name="emb")
        return mx.sym.Group([cat, total, rnn[0], rnn[2], gru, emb])


def layer_parameters(mx):
    """Layers with non-default parameters (None, tuples, booleans, enums) and their inputs."""
    d = mx.sym.Variable("data")
    img = mx.sym.Variable("img")
    outs = [mx.sym.Convolution(img, kernel=(3, 3), num_filter=4, no_bias=True, name="conv"),
            mx.sym.Deconvolution(img, kernel=(2, 2), num_filter=3, name="deconv"),
            mx.sym.topk(d, k=2, ret_typ="both", name="topk")[1],
            mx.sym.topk(d, k=2, ret_typ="mask", name="mask"),
            mx.sym.UpSampling(img, scale=2, sample_type="bilinear", num_filter=3, num_args=1,
                              name="up"),
            mx.sym.LeakyReLU(img, act_type="prelu", name="prelu"),
            mx.sym.SoftmaxOutput(d, multi_output=True, use_ignore=True, ignore_label=-1,
                                 name="sm"),
            mx.sym.slice(d, begin=(0, None), end=(2, None), name="sl"),
            mx.sym.Dropout(img, p=0.3, axes=(1,), name="drop"),
            mx.sym.Pooling(img, kernel=(3, 3), pool_type="max", pooling_convention="full",
                           stride=(2, 2), name="pool"),
            mx.sym.LayerNorm(d, name="ln"),
            mx.sym.SequenceMask(d, use_sequence_length=True,
                                sequence_length=mx.sym.Variable("len"), name="seqmask"),
            mx.sym.norm(d, ord=1, axis=1, name="norm"),
            mx.sym.full((2, 3), 7, name="full")]
    return mx.sym.Group(outs)


def atomic_symbol(mx):
    """An operator taken out of its graph: no inputs, no name."""
    d = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(d, num_hidden=3, name="fc", attr={"__x__": "1"})
    return fc._gen_atomic_symbol()


def atomic_recomposed(mx):
    """An atomic symbol called on new inputs."""
    d = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(d, num_hidden=3, name="fc", attr={"__x__": "1"})
    split = mx.sym.SliceChannel(d, num_outputs=2, name="s")._gen_atomic_symbol()
    return mx.sym.Group([fc._gen_atomic_symbol()(data=d, name="fc2"),
                         split(fc, name="s2")[1]])


GRAPHS = {f.__name__: f for f in (pooling_variants, hidden_outputs, internals_group,
                                  scalar_arithmetic, attribute_scopes, shared_aux_states,
                                  positional_parameters, variable_inputs_and_recurrent,
                                  layer_parameters, atomic_symbol, atomic_recomposed)}


def attribute_queries(mx):
    """{query: result} of attr / list_attr / attr_dict / list_* on the graphs above."""
    out = {}
    for name, build in GRAPHS.items():
        sym = build(mx)
        out[name] = {"list_arguments": sym.list_arguments(),
                     "list_outputs": sym.list_outputs(),
                     "list_auxiliary_states": sym.list_auxiliary_states(),
                     "internals": sym.get_internals().list_outputs(),
                     "attr_dict": sym.attr_dict(),
                     "debug_str": sym.debug_str().split("\n"),
                     "list_attr": sym.list_attr(),
                     "children": (sym.get_children().list_outputs()
                                  if sym.get_children() is not None else None),
                     "attr": {k: sym.attr(k) for k in ("name", "lr_mult", "__note__",
                                                       "ctx_group", "missing")}}
    return out
