"""A model file is data, never code: names, attribute keys and values, variable names and the
CLI's --name carrying C, preprocessor and Jinja payloads either work (the C sees a sanitised
identifier) or are refused with an MXNetError, and no payload ever runs.

Each payload, if it reached the generated C, would create a marker file when the library loads
(a constructor) or when a kernel runs; the tests assert on the marker, not on error texts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler.cnames import c_comment, c_ident, c_string, finalize

from exporthelp import has, make


def _c_payloads(marker):
    run = 'system("touch %s")' % marker
    return {
        "comment_breakout": "x */\n#include <stdlib.h>\n__attribute__((constructor)) static "
                            "void pwn(void) { %s; }\n/* y" % run,
        "one_line_comment": "x */ __attribute__((constructor)) static void pwn(void) "
                            "{ extern int system(const char*); %s; } /* y" % run,
        "identifier": "fc(void){return 0;} __attribute__((constructor)) static void pwn(void)"
                      "{ extern int system(const char*); %s; } static int q" % run,
        "line_comment_newline": "a\n#define real int\n__attribute__((constructor)) static "
                                "void pwn(void){%s;}\n//" % run,
        "string_breakout": 'a", 0 }; __attribute__((constructor)) static void pwn(void)'
                           '{ extern int system(const char*); %s; } static const char* s[] = '
                           '{ "' % run,
        "jinja": "{{ 7 * 7 }}{% include 'net.c.j2' %}{# x #}" + run,
        "backslash_trigraph": "a\\\n??/\n#include <stdlib.h>\n" + run,
        "dash_and_dots": "stage1-unit1.bn-gamma",
        "non_ascii": "réseau_層_\u202e" + run,
        "very_long": "n" * 5000 + run,
        "control": "a\rb\tc\x1b[2J" + run,
        "nul": "a\x00" + run,
        "quotes": "'\"`$(touch %s)`" % marker,
    }


def _graph(p):
    """The payload in every name a graph has: node names, parameter names, an attribute key
    and value on a variable, the data and label names."""
    data = mx.sym.Variable("data" + p)
    w = mx.sym.Variable(p + "_weight", attr={"__lr_mult__": "1.0", p + "key": p + "value"})
    net = mx.sym.FullyConnected(data, weight=w, name=p, num_hidden=3)
    net = mx.sym.Activation(net, act_type="relu", name=p + "act")
    net = mx.sym.FullyConnected(net, name=p + "2", num_hidden=3)
    return mx.sym.SoftmaxOutput(net, mx.sym.Variable(p + "label"), name=p + "out")


def _train(sym, p):
    x = np.random.RandomState(0).rand(8, 4).astype(np.float32)
    y = np.arange(8) % 3
    it = mx.io.NDArrayIter({"data" + p: x}, {p + "label": y}, batch_size=4)
    mod = mx.mod.Module(sym, data_names=["data" + p], label_names=[p + "label"])
    mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    mod.predict(it)
    return mod


@pytest.mark.parametrize("kind", sorted(_c_payloads("M")))
def test_payload_names_bind_train_and_export_without_running(kind, tmp_path):
    marker = tmp_path / "MARKER"
    p = _c_payloads(marker)[kind]
    try:
        sym = _graph(p)
    except MXNetError:
        assert not marker.exists()
        return
    # the symbol file round trip keeps every name (or the file is refused when made)
    loaded = mx.sym.load_json(sym.tojson())
    assert loaded.list_arguments() == sym.list_arguments()
    assert loaded.tojson() == sym.tojson()
    try:
        mod = _train(loaded, p)
    except MXNetError:
        assert not marker.exists()
        return
    arg, aux = mod.get_params()
    assert all(np.isfinite(v.asnumpy()).all() for v in arg.values())
    mod.export(str(tmp_path / "inference"), kind="inference", name="m")
    mod.export(str(tmp_path / "trainer"), kind="trainer", name="m")
    for folder in ("inference", "trainer"):
        for f in os.listdir(tmp_path / folder):
            assert not f.startswith(".."), f
    if kind in ("one_line_comment", "identifier", "string_breakout", "dash_and_dots") \
            and has("make"):
        r = make(tmp_path / "inference", "all", "check")
        assert r.returncode == 0, r.stdout + r.stderr
    if kind == "quotes" and has("make"):
        r = make(tmp_path / "trainer")
        assert r.returncode == 0, r.stdout + r.stderr
    assert not marker.exists()


def _checkpoint(tmp_path, p):
    """A checkpoint whose FullyConnected carries the payload as its name."""
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, name=p, num_hidden=3)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(data_shapes=[("data", (2, 4))], label_shapes=[("softmax_label", (2,))])
    mod.init_params()
    prefix = str(tmp_path / "ck")
    mod.save_checkpoint(prefix, 1)
    return prefix


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mxc", "build"] + list(args), cwd=str(cwd),
                          capture_output=True, text=True, timeout=300)


def test_cli_refuses_hostile_names_and_writes_only_under_out(tmp_path):
    marker = tmp_path / "MARKER"
    p = _c_payloads(marker)["one_line_comment"]
    prefix = _checkpoint(tmp_path, p)
    out = tmp_path / "out"
    for name in (p, "x\n#include <stdlib.h>", "../escape", "a b", "int", "é", "a" * 100):
        r = _cli(prefix + "-symbol.json", "--params", prefix + "-0001.params",
                 "--shape", "data=2,4", "--out", str(out), "--name", name, cwd=tmp_path)
        assert r.returncode != 0
        assert "must be a C identifier" in r.stderr
        assert "Traceback" not in r.stderr
    assert not out.exists() and not (tmp_path / "escape").exists()
    # the payload-named graph itself exports and builds under a valid name
    r = _cli(prefix + "-symbol.json", "--params", prefix + "-0001.params",
             "--shape", "data=2,4", "--out", str(out), "--name", "ok", "--make", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(os.listdir(tmp_path)) == ["MARKER"] * marker.exists() + ["ck-0001.params",
                                                                             "ck-symbol.json",
                                                                             "out"]
    assert not marker.exists()


def test_json_file_with_payload_node_names_binds_as_data(tmp_path):
    marker = tmp_path / "MARKER"
    p = _c_payloads(marker)["one_line_comment"]
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, name="fc", num_hidden=2)
    doc = json.loads(net.tojson())
    for node in doc["nodes"]:
        if node["op"] == "FullyConnected":
            node["name"] = p
    sym = mx.sym.load_json(json.dumps(doc))
    assert p + "_weight" in sym.list_arguments() or p in sym.list_outputs()[0]
    mod = mx.mod.Module(sym, label_names=None)
    mod.bind(data_shapes=[("data", (2, 3))], for_training=False)
    mod.init_params()
    mod.forward(mx.io.DataBatch([mx.nd.ones((2, 3))]), is_train=False)
    assert mod.get_outputs()[0].shape == (2, 2)
    assert not marker.exists()


# ---- the gate itself --------------------------------------------------------------------

def test_c_ident_is_an_identifier_unique_and_capped():
    taken = set()
    names = ["fc1", "fc1", "a-b", "a_b", "1x", "", "*/", "é", "int", "x" * 300]
    out = [c_ident(n, taken) for n in names]
    assert len(set(out)) == len(out)
    for o in out:
        assert o[0].isalpha() and all(c.isalnum() or c == "_" for c in o) and o.isascii()
        assert len(o) <= 48
    assert out[0] == "fc1" and out[1] != "fc1"


def test_c_comment_and_c_string_escape_everything():
    for text in ("*/ x /*", "a\nb", "// c", "\\", "\x00", "é", "*//*"):
        c = str(c_comment(text))
        assert "*/" not in c and "/*" not in c and "//" not in c and "\n" not in c
        assert c.isascii() and not c.endswith("\\")
    s = str(c_string('a"b\\c\n\x00é??/'))
    assert s.startswith('"') and s.endswith('"')
    inner = s[1:-1]
    assert '"' not in inner.replace('\\042', '') and "\n" not in inner and "??" not in inner
    # the literal decodes back to the exact bytes
    import ast
    assert ast.literal_eval("b" + s) == 'a"b\\c\n\x00é??/'.encode("utf-8")


@pytest.mark.parametrize("text", ["a */ b", "x\ny", "#include", 'a"', "a;b", "{", "// c",
                                  "é"])
def test_finalize_refuses_unescaped_text(text):
    with pytest.raises(MXNetError):
        finalize(text)


def test_finalize_passes_numbers_and_compiler_expressions():
    assert str(finalize(3)) == "3" and str(finalize(0.5)) == "0.5"
    assert str(finalize("mem + 64")) == "mem + 64"
    assert str(finalize((2, 3))) == "(2, 3)"
