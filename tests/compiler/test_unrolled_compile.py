"""Unrolled recurrent graphs: repeated runs of entry-point steps become loops over the time
steps, so the generated C stops growing with the number of steps; the loops compute what the
unrolled steps did (forward vs NumPy, gradients vs float64 central differences)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.compiler import codegen
from mxc.compiler.plan import make_plan

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bench.unrolled_compile import lstm_lm  # noqa: E402


def _lm_source(steps, roll=True):
    sym = lstm_lm(steps, vocab=11, hidden=8)
    plan = make_plan(sym, {"data": (2, steps), "softmax_label": (2, steps)}, ["data"],
                     ["softmax_label"])
    return codegen.render(plan, kinds=["sgd"], roll=roll)[0]


def _entry(src, name):
    body = src[src.index("int %s(" % name):]
    return body[:body.index("\n}\n")].splitlines()


def _statement_lines(src):
    """Lines of forward and backward that are not tensor pointer declarations."""
    lines = _entry(src, "mxc_forward") + _entry(src, "mxc_backward")
    return [line for line in lines if "real* const " not in line]


def test_generated_code_stops_growing_with_the_steps():
    """Structural bound: the entry points' statements are the same for 8, 16 and 32 steps
    (each a loop whose count changes); what still grows is one pointer declaration per tensor
    handed to the SliceChannel / Concat over all steps and their kernels' per-tensor lines,
    14 lines per step instead of the ~197 of the unrolled calls."""
    srcs = {t: _lm_source(t) for t in (8, 16, 32)}
    statements = {t: len(_statement_lines(s)) for t, s in srcs.items()}
    assert statements[8] == statements[16] == statements[32], statements
    for s in srcs.values():
        assert s.count("for (int64_t step = 0; step < ") >= 2      # forward and backward
    lines = {t: s.count("\n") for t, s in srcs.items()}
    per_step = (lines[32] - lines[16]) / 16.0
    assert per_step <= 16, lines
    flat = {t: _lm_source(t, roll=False).count("\n") for t in (8, 16)}
    assert (flat[16] - flat[8]) / 8.0 >= 8 * per_step, (flat, lines)
    assert lines[32] < flat[16]


def test_find_repeats():
    keys = list("xy") + list("abc") * 5 + list("z")
    assert codegen.find_repeats(keys, min_repeats=3, min_steps=6) == [(2, 3, 5)]
    # too few repetitions or steps: nothing is rolled
    assert codegen.find_repeats(keys, min_repeats=6, min_steps=6) == []
    assert codegen.find_repeats(keys, min_repeats=3, min_steps=16) == []
    # the period covering the most steps wins
    keys = list("aaab") * 4
    assert codegen.find_repeats(keys, min_repeats=3, min_steps=3) == [(0, 4, 4)]


class _Pointers:
    def ref(self, name, expr):
        return name


def _steps(offsets):
    return [codegen.Step("call", [("w", 16), ("x%d" % i, o), "is_train"], fn="k", label="n%d" % i)
            for i, o in enumerate(offsets)]


def test_loop_strides_and_offset_table():
    # a fixed stride: the first tensor plus stride * step, no table
    items = codegen.roll_steps(_steps([100, 164, 228, 292, 356]), min_repeats=3, min_steps=3)
    loop = codegen.EntryWriter(_Pointers())._loop(*items[0][1:])
    assert loop["kind"] == "loop" and loop["count"] == 5 and loop["table"] is None
    assert str(loop["body"][0]["call"]) == "k(w, x0 + 64 * step, is_train)"
    # irregular offsets: one end is peeled off when that leaves a fixed stride ...
    items = codegen.roll_steps(_steps([999, 164, 228, 292, 356]), min_repeats=3, min_steps=3)
    assert not isinstance(items[0], tuple) and items[1][3] == 4
    # ... else every repetition reads its offset from the table
    items = codegen.roll_steps(_steps([100, 900, 228, 50, 356, 7]), min_repeats=3,
                               min_steps=3)
    loop = codegen.EntryWriter(_Pointers())._loop(*items[0][1:])
    assert str(loop["body"][0]["call"]) == "k(w, mem + at[step][0], is_train)"
    assert [str(r) for r in loop["table"]] == ["100", "900", "228", "50", "356", "7"]


def _np_lstm(x, params, layers, hidden):
    """A stack of LSTM layers over x (N, T, D), zero initial states; outputs (N, T, H)."""
    def sig(v):
        return 1 / (1 + np.exp(-v))
    seq = x
    for layer in range(layers):
        p = "l%d_" % layer
        h = np.zeros((x.shape[0], hidden))
        c = np.zeros_like(h)
        outs = []
        for t in range(seq.shape[1]):
            z = seq[:, t] @ params[p + "i2h_weight"].T + params[p + "i2h_bias"] \
                + h @ params[p + "h2h_weight"].T + params[p + "h2h_bias"]
            i, f, g, o = np.split(z, 4, axis=1)
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
            outs.append(h)
        seq = np.stack(outs, axis=1)
    return seq


def test_rolled_lstm_forward_and_gradients():
    steps, hidden, layers = 7, 3, 2
    stack = mx.rnn.SequentialRNNCell()
    for i in range(layers):
        stack.add(mx.rnn.LSTMCell(hidden, prefix="l%d_" % i))
    out, _ = stack.unroll(steps, mx.sym.Variable("data"), merge_outputs=True)
    arg_shapes = dict(zip(out.list_arguments(), out.infer_shape(data=(2, steps, 2))[0]))
    plan = make_plan(out, arg_shapes, list(arg_shapes), [], {n: "write" for n in arg_shapes},
                     dtype="float64")
    src = codegen.render(plan, kinds=[])[0]
    assert src.count("for (int64_t step = 0; step < ") >= 2
    rng = np.random.RandomState(0)
    location = {n: rng.uniform(-0.8, 0.8, size=s) for n, s in arg_shapes.items()}
    tu.check_symbolic_forward(out, location, [_np_lstm(location["data"], location, layers,
                                                       hidden)], rtol=1e-10, atol=1e-12,
                              dtype=np.float64)
    tu.check_numeric_gradient(out, location, numeric_eps=1e-6, rtol=1e-5, atol=1e-8)


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("cc")),
                    reason="make or cc is missing: the exported library is not built")
def test_exported_trainer_of_an_unrolled_lstm_builds_warning_free(tmp_path):
    """The standalone trainer of an unrolled two-layer LSTM, loops and all, builds with
    -Wall -Wextra -Werror -pedantic and its self-check reproduces the module's outputs."""
    steps = 6
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(4, prefix="l%d_" % i))
    out, _ = stack.unroll(steps, mx.sym.Variable("data"), merge_outputs=True)
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(out, num_hidden=1, name="fc"),
                                        name="lro")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    mod.bind([("data", (2, steps, 3))], [("lro_label", (2, 1))])
    mod.init_params(mx.init.Uniform(0.3))
    mod.init_optimizer(optimizer="sgd")
    mod.export(str(tmp_path / "lm"), kind="trainer")
    src = "".join(p.read_text() for p in (tmp_path / "lm").glob("*.c"))
    assert src.count("for (int64_t step = 0; step < ") >= 2
    res = subprocess.run(["make", "-s", "-C", str(tmp_path / "lm"), "check"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "-Werror" in (tmp_path / "lm" / "Makefile").read_text()
    assert "ok (0 mismatches" in res.stdout
