"""Deterministic mutation fuzzer for mxc's file readers.

Targets: mx.nd.load_frombuffer and mx.nd.load (the .params / mx.nd.save format),
mx.model.load_checkpoint (a mutated -symbol.json or .params beside an intact partner),
mx.sym.load_json (byte-level and structural mutations of the parsed document; mutants that
load go on to infer_shape, a plan and rendered C, and a few distinct ones are bound, which
compiles them) and the .states reader. Seeds are files written by mxc here, plus MXNet's own
checkpoints when a folder of them is given.

Contract checked for every input: only MXNetError or a ValueError subclass escapes, no input
runs longer than the per-input bound, and with --memory-mb nothing asks for more memory (an
allocation past the limit shows up as MemoryError, which is a finding).

    python tools/fuzz/fuzz_readers.py --iterations 100000 [--seed 0] [--shared DIR]

Prints a JSON summary; exits 1 when there are findings (their inputs go to --out).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy: a small, fixed footprint
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy
import hashlib
import json
import logging
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import warnings

import numpy as np

import mxc as mx
from mxc import states_format
from mxc.base import MXNetError

EXPECTED = (MXNetError, ValueError)
INTERESTING_INTS = (0, 1, -1, 2, 32, 33, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                    0xFFFFFFFF, 10 ** 12, 1 << 60, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
NASTY_TEXT = ("", "\x00", "a\nb", "\x1b[2J", "*/\n#include <stdio.h>\n/*", "{{ 7*7 }}",
              "\ud800", "\u00e9\u540d", '"', "\\", "x" * 5000, "1e400", "-1", "0", "nan",
              "(2,-3)", "(" * 200, "(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
              "23,24,25,26,27,28,29,30,31,32,33)", "99999999999999999999", "inf", "True")


class Timeout(Exception):
    """An input ran past the per-input bound."""


# ---------------------------------------------------------------------------- seeds

def _mlp():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, name="fc1", num_hidden=8)
    net = mx.sym.BatchNorm(net, name="bn1")
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=3)
    return mx.sym.SoftmaxOutput(net, name="softmax"), {"data": (4, 6)}


def _params_for(sym, shapes):
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    rng = np.random.RandomState(0)
    inputs = set(shapes) | {n for n in sym.list_arguments() if n.endswith("_label")}
    arg = {n: mx.nd.array(rng.randn(*s)) for n, s in zip(sym.list_arguments(), arg_shapes)
           if n not in inputs}
    aux = {n: mx.nd.array(rng.rand(*s)) for n, s in zip(sym.list_auxiliary_states(),
                                                         aux_shapes)}
    return arg, aux


class Seeds:
    """Seed inputs per kind: 'params' (bytes), 'json' (text with input shapes), 'states'."""

    def __init__(self, workdir, shared=None):
        self.params, self.json, self.states = [], [], []
        sym, shapes = _mlp()
        arg, aux = _params_for(sym, shapes)
        prefix = os.path.join(workdir, "seed")
        mx.model.save_checkpoint(prefix, 1, sym, arg, aux)
        self.params.append(_read(prefix + "-0001.params"))
        self.params.append(_list_file_bytes())
        self.json.append((sym.tojson(), shapes))
        self.states.extend(_states_seeds(arg))
        if shared and os.path.isdir(shared):
            self._add_shared(shared)

    def _add_shared(self, folder):
        manifest = os.path.join(folder, "manifest.json")
        nets = json.loads(_read(manifest))["nets"] if os.path.exists(manifest) else {}
        for net in nets.values():
            prefix = os.path.join(folder, net["prefix"])
            params = "%s-%04d.params" % (prefix, net["epoch"])
            if os.path.exists(params) and os.path.getsize(params) < 64 << 10:
                self.params.append(_read(params))
            if os.path.exists(prefix + "-symbol.json"):
                self.json.append((_read(prefix + "-symbol.json").decode("utf-8"),
                                  {"data": tuple(net["input_shape"])}))
            states = "%s-%04d.states" % (prefix, net["epoch"])
            if os.path.exists(states) and os.path.getsize(states) < 64 << 10:
                self.states.append(_read(states))


def _states_seeds(arg):
    """MXNet's layout (states_format), and what pickle itself writes for NumPy states and
    an optimizer dumped with them, at an old and the newest protocol."""
    import pickle
    momenta = {i: mx.nd.array(np.full(v.shape, 0.5)) for i, v in enumerate(arg.values())}
    plain = {i: (np.full(v.shape, 0.25, np.float32), np.float64(2.0))
             for i, v in enumerate(arg.values())}
    opt = mx.optimizer.Adam(learning_rate=0.1, lr_scheduler=mx.lr_scheduler.FactorScheduler(5))
    return [states_format.dumps(momenta), pickle.dumps(plain, protocol=2),
            pickle.dumps((momenta, opt), protocol=pickle.HIGHEST_PROTOCOL)]


def _list_file_bytes():
    """An unnamed list of arrays of several dtypes, as mx.nd.save writes it."""
    path = tempfile.mktemp(suffix=".nd")
    arrays = [mx.nd.array(np.arange(6).reshape(2, 3), dtype=dt)
              for dt in ("float32", "float64", "int32", "uint8", "float16")]
    mx.nd.save(path, arrays)
    try:
        return _read(path)
    finally:
        os.unlink(path)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------- mutations

class ByteMutator:
    """Bit flips, byte inserts/deletes, truncation, splicing, chunk copies and forged
    length fields (huge, negative, boundary values at 4- and 8-byte offsets)."""

    def __init__(self, rng, pool):
        self.rng = rng
        self.pool = pool

    def mutate(self, data):
        data = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 3, 6))):
            getattr(self, self.rng.choice(self.OPS))(data)
        return bytes(data)

    OPS = ("flip", "flip", "set_byte", "insert", "delete", "truncate", "splice", "length",
           "length", "length", "copy_chunk")

    def _pos(self, data, extra=0):
        return self.rng.randrange(len(data) + extra) if len(data) + extra > 0 else 0

    def flip(self, data):
        if data:
            data[self._pos(data)] ^= 1 << self.rng.randrange(8)

    def set_byte(self, data):
        if data:
            data[self._pos(data)] = self.rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22))

    def insert(self, data):
        pos = self._pos(data, 1)
        data[pos:pos] = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 9)))

    def delete(self, data):
        if data:
            pos = self._pos(data)
            del data[pos:pos + self.rng.randrange(1, 17)]

    def truncate(self, data):
        del data[self._pos(data, 1):]

    def splice(self, data):
        other = self.rng.choice(self.pool)
        if other and data:
            cut, start = self._pos(data), self.rng.randrange(len(other))
            data[cut:] = other[start:start + self.rng.randrange(1, 4096)]

    def length(self, data):
        """Overwrite an aligned 4- or 8-byte field (a count, ndim, dim, flag, or length)."""
        width = self.rng.choice((4, 8))
        if len(data) < width:
            return
        pos = self.rng.randrange(0, len(data) - width + 1, 4)
        value = self.rng.choice(INTERESTING_INTS) * self.rng.choice((1, 1, -1))
        data[pos:pos + width] = (value % (1 << (8 * width))).to_bytes(width, "little")

    def copy_chunk(self, data):
        if len(data) > 2:
            start = self._pos(data)
            chunk = data[start:start + self.rng.randrange(1, 64)]
            pos = self._pos(data, 1)
            data[pos:pos] = chunk


class JsonMutator:
    """Structural mutations on a parsed symbol document: values of the wrong type, huge or
    negative numbers, nasty strings, deleted / duplicated / reordered nodes and keys,
    forged input and head entries, deep nesting."""

    def __init__(self, rng):
        self.rng = rng

    def mutate(self, doc):
        doc = copy.deepcopy(doc)
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            getattr(self, self.rng.choice(self.OPS))(doc)
        return doc

    OPS = ("replace_value", "replace_value", "attr_value", "attr_value", "input_entry",
           "head_entry", "drop_key", "node_order", "rename", "deep")

    def _nodes(self, doc):
        nodes = doc.get("nodes") if isinstance(doc, dict) else None
        return nodes if isinstance(nodes, list) and nodes else None

    def _node(self, doc):
        nodes = self._nodes(doc)
        if nodes is None:
            return None
        node = self.rng.choice(nodes)
        return node if isinstance(node, dict) else None

    def random_value(self):
        return self.rng.choice((
            None, True, -1, 0, 1 << 64, -(1 << 31), 1e308, float("inf"), 0.5, [], {}, [[0]],
            [0, 0, 0, 0], [-1, 0], "x", self.rng.choice(NASTY_TEXT), {"a": []}, [None],
            [[1, 0, 0]] * 3))

    def replace_value(self, doc):
        """Some value anywhere in the document becomes another type or size."""
        holders = list(_walk(doc))
        if holders:
            holder, key = self.rng.choice(holders)
            holder[key] = self.random_value()

    def attr_value(self, doc):
        node = self._node(doc)
        if node is None:
            return
        attrs = node.setdefault("attrs", {})
        if not isinstance(attrs, dict):
            return
        key = self.rng.choice(list(attrs) + ["num_hidden", "kernel", "stride", "pad",
                                             "num_filter", "act_type", "axis", "eps",
                                             "__shape__", "__init__", "no_bias", "p"])
        attrs[key] = self.rng.choice(NASTY_TEXT + ("0", "-5", "(0,)", "(3,3)", "(0,0)",
                                                   "(1,)", "1", "2", "relu", "1e-3"))

    def input_entry(self, doc):
        node = self._node(doc)
        if node is not None and isinstance(node.get("inputs"), list):
            n = len(self._nodes(doc))
            entry = [self.rng.choice((0, n - 1, n, n + 5, -1, 1 << 40)),
                     self.rng.choice((0, 1, 3, -1)), 0]
            if node["inputs"] and self.rng.random() < 0.5:
                node["inputs"][self.rng.randrange(len(node["inputs"]))] = entry
            else:
                node["inputs"].append(entry)

    def head_entry(self, doc):
        if isinstance(doc, dict) and isinstance(doc.get("heads"), list):
            n = len(self._nodes(doc) or [])
            doc["heads"].append([self.rng.choice((0, n - 1, n, -1)),
                                 self.rng.choice((0, 1, 2, -1)), 0])

    def drop_key(self, doc):
        node = self._node(doc) if self.rng.random() < 0.7 else doc
        if isinstance(node, dict) and node:
            del node[self.rng.choice(list(node))]

    def node_order(self, doc):
        nodes = self._nodes(doc)
        if nodes is None:
            return
        i, j = self.rng.randrange(len(nodes)), self.rng.randrange(len(nodes))
        if self.rng.random() < 0.5:
            nodes[i], nodes[j] = nodes[j], nodes[i]
        else:
            nodes.insert(j, copy.copy(nodes[i]))

    def rename(self, doc):
        node = self._node(doc)
        if node is not None:
            node["name"] = self.rng.choice(NASTY_TEXT + ("fc1", "data", "softmax_label"))

    def deep(self, doc):
        holders = list(_walk(doc))
        if holders:
            holder, key = self.rng.choice(holders)
            value = 0
            for _ in range(self.rng.choice((50, 3000))):
                value = [value]
            holder[key] = value


def _walk(obj):
    """(container, key) for every value inside `obj`, iteratively."""
    stack = [obj]
    while stack:
        cur = stack.pop()
        items = cur.items() if isinstance(cur, dict) else \
            enumerate(cur) if isinstance(cur, list) else ()
        for key, value in items:
            yield cur, key
            if isinstance(value, (dict, list)):
                stack.append(value)


def _dumps(doc, rng):
    try:
        return json.dumps(doc, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    except (ValueError, RecursionError, UnicodeEncodeError):
        return None


# ---------------------------------------------------------------------------- targets

class Harness:
    """Runs one input against one target and records anything outside the contract."""

    def __init__(self, workdir, per_input_s, bind_limit, out_dir=None, render_limit=40):
        self.workdir = workdir
        self.per_input_s = per_input_s
        self.bind_limit = bind_limit
        self.out_dir = out_dir
        self.stats = {}
        self.findings = []
        self.bound = set()
        self.rendered = set()
        self.render_limit = render_limit
        self.slowest = 0.0

    def run(self, target, fn, payload, describe):
        counts = self.stats.setdefault(target, {"inputs": 0, "loaded": 0, "rejected": 0})
        counts["inputs"] += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.per_input_s)
        try:
            fn(payload)
            counts["loaded"] += 1
        except EXPECTED:
            counts["rejected"] += 1
        except Timeout:
            self._finding(target, "Timeout", "over %.1f s" % self.per_input_s, describe)
        except BaseException as err:  # the contract: nothing else may escape
            if isinstance(err, KeyboardInterrupt):
                raise
            self._finding(target, type(err).__name__, str(err)[:300], describe)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.slowest = max(self.slowest, time.perf_counter() - start)

    def _finding(self, target, kind, message, describe):
        raw = describe()
        digest = hashlib.sha256(raw).hexdigest()[:16]
        self.findings.append({"target": target, "error": kind, "message": message,
                              "input_sha256": digest})
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
            with open(os.path.join(self.out_dir, "%s-%s.bin" % (target, digest)), "wb") as f:
                f.write(raw)

    # -- the readers
    def nd_buffer(self, data):
        mx.nd.load_frombuffer(data)

    def nd_file(self, data):
        path = os.path.join(self.workdir, "in.params")
        with open(path, "wb") as f:
            f.write(data)
        mx.nd.load(path)

    def states(self, data):
        states_format.loads(data, "in.states")

    def checkpoint(self, pair):
        symbol_text, params = pair
        prefix = os.path.join(self.workdir, "ck")
        with open(prefix + "-symbol.json", "wb") as f:
            f.write(symbol_text)
        with open(prefix + "-0001.params", "wb") as f:
            f.write(params)
        mx.model.load_checkpoint(prefix, 1)

    def symbol(self, item):
        text, shapes = item
        sym = mx.sym.load_json(text)
        self.stats.setdefault("symbol_survivors", {"loaded": 0, "inferred": 0, "planned": 0,
                                                   "bound": 0})["loaded"] += 1
        self._downstream(sym, shapes)

    def _downstream(self, sym, shapes):
        """infer_shape, a plan and rendered C for a loaded mutant; bind a few distinct ones."""
        survivors = self.stats["symbol_survivors"]
        sym.tojson()
        shapes = {k: v for k, v in shapes.items() if k in sym.list_arguments()}
        if not shapes:
            return
        arg_shapes, _, _ = sym.infer_shape(**shapes)
        if arg_shapes is None:
            return
        survivors["inferred"] += 1
        from mxc.compiler import codegen
        from mxc.compiler.plan import make_plan
        labels = [n for n in sym.list_arguments() if n.endswith("label")]
        plan = make_plan(sym, dict(shapes), list(shapes), labels)
        survivors["planned"] += 1
        key = hashlib.sha256(sym.tojson().encode("utf-8")).hexdigest()
        if len(self.rendered) < self.render_limit and key not in self.rendered:
            self.rendered.add(key)                       # rendering C is the slow step
            codegen.render(plan, prefix="fz")
            survivors["rendered"] = len(self.rendered)
        if len(self.bound) < self.bind_limit and key not in self.bound:
            self.bound.add(key)
            signal.setitimer(signal.ITIMER_REAL, 0)      # compiling C takes its time
            mod = mx.mod.Module(sym, data_names=list(shapes), label_names=labels)
            mod.bind(data_shapes=list(shapes.items()),
                     label_shapes=[(n, (shapes[list(shapes)[0]][0],)) for n in labels] or None)
            survivors["bound"] += 1


def _on_alarm(signum, frame):
    raise Timeout()


# ---------------------------------------------------------------------------- campaign

def campaign(iterations, seed, shared, per_input_s, bind_limit, out_dir=None,
             render_limit=40):
    """Run `iterations` inputs spread over the targets; returns the summary dict."""
    rng = random.Random(seed)
    np.random.seed(seed)
    warnings.simplefilter("ignore")
    logging.getLogger("mxc").setLevel(logging.ERROR)
    signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mxc-fuzz-") as workdir:
        seeds = Seeds(workdir, shared)
        harness = Harness(workdir, per_input_s, bind_limit, out_dir, render_limit)
        byte_mut = ByteMutator(rng, seeds.params + seeds.states +
                               [t.encode("utf-8") for t, _ in seeds.json])
        json_mut = JsonMutator(rng)
        docs = [(json.loads(t), shapes) for t, shapes in seeds.json]
        for i in range(iterations):
            _one_input(i, rng, seeds, docs, byte_mut, json_mut, harness)
        elapsed = time.perf_counter() - start
    total = sum(v["inputs"] for k, v in harness.stats.items() if "inputs" in v)
    return {"iterations": iterations, "inputs_run": total, "seed": seed,
            "seconds": round(elapsed, 2), "slowest_input_s": round(harness.slowest, 3),
            "seeds": {"params": len(seeds.params), "json": len(seeds.json),
                      "states": len(seeds.states)},
            "targets": harness.stats, "findings": harness.findings}


def _one_input(i, rng, seeds, docs, byte_mut, json_mut, harness):
    kind = i % 6
    if kind in (0, 1):
        data = byte_mut.mutate(rng.choice(seeds.params))
        fn = harness.nd_buffer if kind == 0 else harness.nd_file
        harness.run("nd.load_frombuffer" if kind == 0 else "nd.load", fn, data,
                    lambda: data)
    elif kind == 2:
        _checkpoint_input(rng, seeds, byte_mut, json_mut, docs, harness)
    elif kind == 3:
        data = byte_mut.mutate(rng.choice(seeds.states))
        harness.run("states", harness.states, data, lambda: data)
    elif kind == 4:
        text, shapes = rng.choice(seeds.json)
        data = byte_mut.mutate(text.encode("utf-8"))
        harness.run("sym.load_json(bytes)", harness.symbol, (data, shapes), lambda: data)
    else:
        doc, shapes = rng.choice(docs)
        text = _dumps(json_mut.mutate(doc), rng)
        if text is None:
            text = json.dumps(doc)
        harness.run("sym.load_json(structural)", harness.symbol, (text, shapes),
                    lambda: text.encode("utf-8", "surrogatepass"))


def _checkpoint_input(rng, seeds, byte_mut, json_mut, docs, harness):
    index = rng.randrange(len(seeds.json))
    text = seeds.json[index][0].encode("utf-8")
    params = seeds.params[0] if index == 0 else rng.choice(seeds.params)
    if rng.random() < 0.5:
        params = byte_mut.mutate(params)
    else:
        mutated = _dumps(json_mut.mutate(docs[index][0]), rng)
        text = (mutated or "").encode("utf-8", "surrogatepass")
    pair = (text, params)
    harness.run("model.load_checkpoint", harness.checkpoint, pair,
                lambda: struct.pack("<Q", len(text)) + text + params)


def limit_memory(megabytes):
    """Cap the address space at `megabytes` above what the process already maps."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    current = pages * resource.getpagesize()
    limit = current + megabytes * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def default_shared():
    """MXNet checkpoints next to the repository (MXC_SHARED, else ../shared/mxnet)."""
    root = os.environ.get("MXC_SHARED")
    if root is None:
        here = os.path.dirname(os.path.abspath(__file__))
        root = os.path.join(here, "..", "..", "..", "shared")
    folder = os.path.join(root, "mxnet")
    return folder if os.path.isdir(folder) else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", default=None,
                        help="folder of MXNet checkpoints to add as seeds")
    parser.add_argument("--no-shared", action="store_true")
    parser.add_argument("--per-input-s", type=float, default=5.0)
    parser.add_argument("--memory-mb", type=int, default=1024,
                        help="address-space headroom; 0 = no limit")
    parser.add_argument("--bind", type=int, default=0,
                        help="bind (compile) up to this many distinct loadable mutants")
    parser.add_argument("--render", type=int, default=40,
                        help="render the C of up to this many distinct loadable mutants")
    parser.add_argument("--out", default=None, help="write finding inputs here")
    args = parser.parse_args(argv)
    shared = None if args.no_shared else (args.shared or default_shared())
    if args.memory_mb:
        limit_memory(args.memory_mb)
    summary = campaign(args.iterations, args.seed, shared, args.per_input_s, args.bind,
                       args.out, args.render)
    summary["shared_seeds"] = shared is not None
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
