"""The fused recurrent layer `RNN` (MXNet's cuDNN-style operator): stacked, optionally
bidirectional rnn_relu / rnn_tanh / lstm / gru layers over a (T, N, C) sequence, all weights in
one packed 1-D `parameters` vector.

Packed layout (MXNet's): every weight first -- per layer, per direction: W_i2h (G*H x I_l) then
W_h2h (G*H x R), and for an LSTM with projection W_h2r (P x H) -- then every bias in the same
order, b_i2h (G*H) then b_h2h (G*H). R is the recurrent state's size: H, or P = projection_size
(LSTMP: h = W_h2r (o * tanh(c))). Gates in MXNet's order: lstm i, f, g (cell candidate), o;
gru r, z, n. The gru candidate is n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (cuDNN's form).

Training keeps what the backward pass needs in the hidden `reserve` output (gate activations,
cell states, every layer's output, the dropout masks between layers); `geometry` lays that
buffer and the scratch workspace out once, here, for the templates.
"""
import numpy as np

from .base import (OpDef, Param, ParamError, ShapeError, assign, known, p_bool, p_enum,
                   p_float, p_int, p_optional, register)

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _inputs(p):
    return ["data", "parameters", "state"] + (["state_cell"] if p["mode"] == "lstm" else [])


def _outputs(p):
    names = ["output"]
    if p["state_outputs"]:
        names.append("state_output")
        if p["mode"] == "lstm":
            names.append("statecell_output")
    return names + ["reserve"]


def _visible(p):
    return len(_outputs(p)) - 1


def _check(p):
    if p["use_sequence_length"]:
        raise ParamError("use_sequence_length", "variable-length sequences (use_sequence_length"
                         "=True) are not supported; pad the batch to one length instead")
    proj = p["projection_size"]
    if proj is not None:
        if p["mode"] != "lstm":
            raise ParamError("projection_size", "a projection is only defined for mode=lstm")
        if not 1 <= proj <= p["state_size"]:
            raise ParamError("projection_size", "must be in [1, state_size=%d]"
                             % p["state_size"])
    lo, hi = p["lstm_state_clip_min"], p["lstm_state_clip_max"]
    if lo is not None or hi is not None:
        key = "lstm_state_clip_min" if lo is not None else "lstm_state_clip_max"
        if p["mode"] != "lstm":
            raise ParamError(key, "state clipping is only defined for mode=lstm")
        if lo is None or hi is None:
            raise ParamError(key, "lstm_state_clip_min and lstm_state_clip_max must be given "
                             "together")
        if hi < lo:
            raise ParamError("lstm_state_clip_max", "must be >= lstm_state_clip_min (%r)" % lo)


def param_size(p, input_size):
    """Length of the packed parameter vector for data with `input_size` features."""
    H, L, D, G = p["state_size"], p["num_layers"], 2 if p["bidirectional"] else 1, GATES[p["mode"]]
    R = H if p["projection_size"] is None else p["projection_size"]
    first = (input_size + R + 2) * G * H * D
    other = (D * R + R + 2) * G * H * D
    proj = 0 if p["projection_size"] is None else R * H * L * D
    return first + (L - 1) * other + proj


def _shape(p, ins):
    data = ins[0]
    nout = _visible(p) + 1
    if not known(data):
        return ins, [None] * nout
    if len(data) != 3:
        raise ShapeError(0, tuple(data), (), "RNN data must be (sequence length, batch, "
                         "features), got %d dimensions" % len(data))
    T, N, I = data
    H, D = p["state_size"], 2 if p["bidirectional"] else 1
    R = H if p["projection_size"] is None else p["projection_size"]
    LD = p["num_layers"] * D
    assign(ins, 1, (param_size(p, I),))
    assign(ins, 2, (LD, N, R))
    if p["mode"] == "lstm":
        assign(ins, 3, (LD, N, H))
    outs = [(T, N, D * R)]
    if p["state_outputs"]:
        outs.append((LD, N, R))
        if p["mode"] == "lstm":
            outs.append((LD, N, H))
    outs.append((layout(p, tuple(data))["reserve"],))
    return ins, outs


def layout(p, data_shape):
    """Where everything lives, in elements: the packed parameters of each (layer, direction),
    the reserve (saved for backward) and the workspace (scratch). Returns a dict of sizes and
    `cells`, one dict per (layer, direction) in packed order, and `layers`, one per layer."""
    T, N, I = data_shape
    H, L = p["state_size"], p["num_layers"]
    D, G = (2 if p["bidirectional"] else 1), GATES[p["mode"]]
    proj = p["projection_size"] is not None
    R = p["projection_size"] if proj else H      # the size of h (what recurs and is output)
    GH, TN, YW = G * H, T * N, D * R
    extra = p["mode"] in ("lstm", "gru")         # lstm: cell states; gru: W_hn h + b_hn
    dropout = p["p"] > 0 and L > 1
    cells, layers = [], []
    w = 0
    for layer in range(L):
        i_l = I if layer == 0 else YW
        for d in range(D):
            cells.append(dict(layer=layer, d=d, I=i_l, wi=w, wh=w + GH * i_l,
                              wr=w + GH * (i_l + R) if proj else None))
            w += GH * (i_l + R) + (R * H if proj else 0)
    b = w
    for c in cells:
        c.update(bi=b, bh=b + GH)
        b += 2 * GH
    r = 0
    for layer in range(L):
        info = dict(index=layer, I=I if layer == 0 else YW, mask=None, xin=None, y=None,
                    cells=[c for c in cells if c["layer"] == layer])
        if layer > 0 and dropout:
            info["mask"], info["xin"] = r, r + TN * YW
            r += 2 * TN * YW
        if layer < L - 1:
            info["y"] = r
            r += TN * YW
        for c in info["cells"]:
            c["gates"] = r
            r += TN * GH
            c["extra"] = r if extra else None
            r += TN * H if extra else 0
            c["rt"] = r if proj else None         # LSTMP: o * tanh(c) before the projection
            r += TN * H if proj else 0
        layers.append(info)
    ws = dict(hg=0)                              # forward: the recurrent product of one step
    ws["dgx"] = 0                                 # backward: gate gradients of every step
    ws["dgh"] = TN * GH                           # gru: their recurrent part (n scaled by r)
    ws["dh"] = ws["dgh"] + (TN * GH if p["mode"] == "gru" else 0)
    ws["dc"] = ws["dh"] + N * R                   # the carried state / cell gradients
    ws["dr"] = ws["dc"] + N * H                   # LSTMP: one step's gradient before W_h2r
    ws["dhp"] = ws["dr"] + (N * H if proj else 0)  # LSTMP: every step's gradient of h
    ws["dya"] = ws["dhp"] + (TN * R if proj else 0)   # two layer-output gradients, ping-pong
    ws["dyb"] = ws["dya"] + TN * YW
    ws_size = max(N * GH, ws["dyb"] + (TN * YW if L > 1 else 0))
    return dict(T=T, N=N, I=I, H=H, R=R, L=L, D=D, G=G, GH=GH, TN=TN, YW=YW, P=b, proj=proj,
                cells=cells, layers=layers, reserve=max(r, 1), ws=ws, ws_size=ws_size,
                dropout=dropout, clip=p["lstm_state_clip_min"] is not None)


# The element-wise cell loops (a few exp / tanh per element) split over OpenMP threads from
# this many elements (batch x hidden) on. Each split adds a team start and a barrier per time
# step, and the gates move between the cores that computed the recurrent product and those
# that read them: on 2 busy cores a 32 x 200 LSTM ran 15-20% slower threaded, so only long
# rows are split.
CELL_PARALLEL_MIN = 32768


def _geometry(p, shapes):
    return dict(layout(p, shapes["data"]), cell_parallel_min=CELL_PARALLEL_MIN)


def _workspace(p, ins, outs):
    return layout(p, tuple(ins[0]))["ws_size"]


# ---- the NumPy reference -------------------------------------------------------------------

def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _cell_ref(p, x, h0, c0, wi, wh, bi, bh, wr, reverse):
    """One direction of one layer over x (T, N, I): the hidden states (T, N, R) and the last
    hidden and cell states (wr: the LSTMP projection, or None)."""
    mode, H = p["mode"], p["state_size"]
    lo, hi = p["lstm_state_clip_min"], p["lstm_state_clip_max"]
    xg = x @ wi.T + bi                            # (T, N, G*H): every step's input projection
    h, c = h0, c0
    ys = np.empty(x.shape[:2] + (h0.shape[-1],))
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in steps:
        hg = h @ wh.T + bh
        if mode == "lstm":
            a = xg[t] + hg
            i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H])
            g, o = np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
            c = f * c + i * g
            if lo is not None:
                c = np.clip(c, lo, hi)
            h = o * np.tanh(c)
            if wr is not None:
                h = h @ wr.T
        elif mode == "gru":
            r = _sigmoid(xg[t][:, :H] + hg[:, :H])
            z = _sigmoid(xg[t][:, H:2 * H] + hg[:, H:2 * H])
            n = np.tanh(xg[t][:, 2 * H:] + r * hg[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            a = xg[t] + hg
            h = np.maximum(a, 0) if mode == "rnn_relu" else np.tanh(a)
        ys[t] = h
    return ys, h, c


def _unpack(p, flat, input_size):
    """The packed vector read front to back, as MXNet lays it out: [(W_i2h, W_h2h, W_h2r or
    None, b_i2h, b_h2h)] per (layer, direction)."""
    H, L = p["state_size"], p["num_layers"]
    D, GH = (2 if p["bidirectional"] else 1), GATES[p["mode"]] * p["state_size"]
    R = H if p["projection_size"] is None else p["projection_size"]
    pos = [0]

    def take(*shape):
        n = int(np.prod(shape))
        part = flat[pos[0]:pos[0] + n].reshape(shape)
        pos[0] += n
        return part
    weights = []
    for layer in range(L):
        for _ in range(D):
            i_l = input_size if layer == 0 else D * R
            weights.append([take(GH, i_l), take(GH, R),
                            None if p["projection_size"] is None else take(R, H)])
    for w in weights:
        w += [take(GH), take(GH)]
    assert pos[0] == flat.size
    return weights


def _rnn_ref(p, arrays, train=False):
    """The layers one after the other in float64; between layers, in training with p > 0, a
    dropout mask (keep with 1 - p, scaled by 1/(1-p)) drawn from NumPy's global generator.
    The hidden `reserve` output is the compiled kernel's record for its backward pass; here it
    is returned zero-filled with its size."""
    x = arrays[0]
    H, L, D = p["state_size"], p["num_layers"], 2 if p["bidirectional"] else 1
    weights = _unpack(p, np.asarray(arrays[1], dtype=np.float64).reshape(-1), x.shape[2])
    hx = np.asarray(arrays[2], dtype=np.float64)
    cx = np.asarray(arrays[3], dtype=np.float64) if p["mode"] == "lstm" else \
        np.zeros(hx.shape[:2] + (H,))
    inp = np.asarray(x, dtype=np.float64)
    hy, cy = np.empty_like(hx), np.empty_like(cx)
    for layer in range(L):
        outs = []
        for d in range(D):
            k = layer * D + d
            wi, wh, wr, bi, bh = weights[k]
            ys, hy[k], cy[k] = _cell_ref(p, inp, hx[k], cx[k], wi, wh, bi, bh, wr, d == 1)
            outs.append(ys)
        inp = np.concatenate(outs, axis=2)
        if layer < L - 1 and train and p["p"] > 0:
            keep = 1 - p["p"]
            inp = inp * (np.random.uniform(size=inp.shape) < keep) / keep
    out = [inp.astype(x.dtype)]
    if p["state_outputs"]:
        out.append(hy.astype(x.dtype))
        if p["mode"] == "lstm":
            out.append(cy.astype(x.dtype))
    return out + [np.zeros(layout(p, x.shape)["reserve"], dtype=x.dtype)]


register(OpDef(
    "RNN",
    params={"state_size": Param(p_int, ge=1), "num_layers": Param(p_int, ge=1),
            "mode": Param(p_enum("rnn_relu", "rnn_tanh", "lstm", "gru")),
            "bidirectional": Param(p_bool, False),
            # MXNet's range is [0, 1]; p=1 would scale the kept values by 1/0: refused here
            "p": Param(p_float, 0.0, ge=0, lt=1),
            "state_outputs": Param(p_bool, False),
            "projection_size": Param(p_optional(p_int), None),
            "lstm_state_clip_min": Param(p_optional(p_float), None),
            "lstm_state_clip_max": Param(p_optional(p_float), None),
            "lstm_state_clip_nan": Param(p_bool, False),
            "use_sequence_length": Param(p_bool, False)},
    inputs=_inputs, outputs=_outputs, visible_outputs=_visible, check=_check,
    shape=_shape, geometry=_geometry, workspace=_workspace, uses_rng=True,
    template="ops/rnn.c.j2", reference=_rnn_ref))
