"""MXNet's bucketing LSTM language model, trained on mxc and on real MXNet side by side.

    python bench/lstm_lm.py --mxnet-python /path/to/mxnet-venv/bin/python
    python bench/lstm_lm.py --epochs 1 --tokens 40000            # smaller, mxc only
    python bench/lstm_lm.py --cell fused ...                      # one FusedRNNCell instead
    python bench/lstm_lm.py --measure        # a bucket switch and the fused cells, both ways

The model is MXNet's example/rnn/bucketing/lstm_bucketing.py: Embedding(200), two
LSTMCell(200) in a SequentialRNNCell unrolled over each bucket (10, 20, ..., 60 steps),
FullyConnected(vocab), SoftmaxOutput; BucketingModule.fit with BucketSentenceIter (batch 32),
Perplexity(invalid_label) as the metric, Xavier(in, 2.34), SGD (lr 0.01, wd 1e-5) by default.

The data is a synthetic text made here, deterministically (there is no download): sentences
of a second-order Markov language over `--vocab` words, whose next word depends on the two
before it, so an LSTM has more to learn than a bigram table; lengths spread over 4..60
tokens. Train and validation texts are written in PTB format (one sentence a line, words
separated by spaces) and read back with mx.rnn.encode_sentences as the example reads PTB.

Both systems start from the same parameters (drawn once by mxc's initializer, saved as a
.params file both load) and see the same batches in the same order (each iterator shuffles
from its own seeded generator, not the global one that initializers and binds also draw
from). Each system runs in a process of its own; the script prints per system the
validation perplexity after every epoch, the first epoch's time (binds and compiles
included) and the samples/s of the later epochs (sentences per second of training,
validation excluded).
"""
import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):                       # `python bench/lstm_lm.py`
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

BUCKETS = [10, 20, 30, 40, 50, 60]
START_LABEL, INVALID_LABEL = 1, 0


# -- the corpus -------------------------------------------------------------------------------

def make_corpus(folder, tokens, vocab, seed=2024):
    """Write train.txt and valid.txt (valid: a tenth of the train size) into `folder`.

    A word w has 12 possible successors; which of them are likely depends on the word
    before w (through one of 4 classes), so the best model conditions on two words.
    Returns the paths."""
    rs = np.random.RandomState(seed)
    successors = rs.randint(0, vocab, size=(vocab, 12))
    weights = rs.dirichlet(np.full(12, 0.3), size=(4, vocab))       # [class, word, 12]
    word_class = rs.randint(0, 4, size=vocab)
    names = ["w%d" % i for i in range(vocab)]

    def sentences(n_tokens):
        out, total = [], 0
        while total < n_tokens:
            length = int(np.clip(rs.gamma(3.0, 8.0), 4, 60))
            prev, cur = rs.randint(vocab), rs.randint(vocab)
            words = [cur]
            for _ in range(length - 1):
                k = rs.choice(12, p=weights[word_class[prev], cur])
                prev, cur = cur, successors[cur, k]
                words.append(cur)
            out.append(" ".join(names[w] for w in words))
            total += length
        return out

    paths = []
    for name, n in (("train.txt", tokens), ("valid.txt", tokens // 10)):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write("\n".join(sentences(n)) + "\n")
        paths.append(path)
    return paths


# -- one system's run (the same code for mxc and MXNet) --------------------------------------

def tokenize(mx, fname, vocab=None):
    with open(fname) as f:
        lines = [[w for w in line.split(" ") if w] for line in f.read().splitlines()]
    return mx.rnn.encode_sentences(lines, vocab=vocab, invalid_label=INVALID_LABEL,
                                   start_label=START_LABEL)


def seeded_iter_class(mx):
    class SeededBucketSentenceIter(mx.rnn.BucketSentenceIter):
        """BucketSentenceIter whose shuffles draw from its own generators, so the batch order
        is the same whatever else draws from the global ones."""

        def __init__(self, *args, seed=0, **kwargs):
            self._states = (random.Random(seed).getstate(),
                            np.random.RandomState(seed).get_state())
            super().__init__(*args, **kwargs)

        def reset(self):
            saved = (random.getstate(), np.random.get_state())
            random.setstate(self._states[0])
            np.random.set_state(self._states[1])
            try:
                super().reset()
            finally:
                self._states = (random.getstate(), np.random.get_state())
                random.setstate(saved[0])
                np.random.set_state(saved[1])
    return SeededBucketSentenceIter


def make_sym_gen(mx, vocab_size, num_embed, num_hidden, num_layers, cell="lstm"):
    if cell == "fused":             # one fused RNN operator (mx.sym.RNN) for the whole stack
        stack = mx.rnn.FusedRNNCell(num_hidden, num_layers=num_layers, mode="lstm",
                                    prefix="lstm_")
    else:                           # the example's LSTMCells, unrolled into the graph
        stack = mx.rnn.SequentialRNNCell()
        for i in range(num_layers):
            stack.add(mx.rnn.LSTMCell(num_hidden=num_hidden, prefix="lstm_l%d_" % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=vocab_size, output_dim=num_embed,
                                 name="embed")
        stack.reset()
        outputs = stack.unroll(seq_len, inputs=embed, merge_outputs=True)[0]
        pred = mx.sym.Reshape(outputs, shape=(-1, num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=vocab_size, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)
    return sym_gen


def build(mx, args):
    train_sent, vocab = tokenize(mx, os.path.join(args.data, "train.txt"))
    val_sent, _ = tokenize(mx, os.path.join(args.data, "valid.txt"), vocab)
    it = seeded_iter_class(mx)
    train = it(train_sent, args.batch_size, buckets=list(BUCKETS), invalid_label=INVALID_LABEL,
               seed=1)
    val = it(val_sent, args.batch_size, buckets=list(BUCKETS), invalid_label=INVALID_LABEL,
             seed=2)
    sym_gen = make_sym_gen(mx, len(vocab), args.num_hidden, args.num_hidden, args.num_layers,
                           args.cell)
    model = mx.mod.BucketingModule(sym_gen=sym_gen,
                                   default_bucket_key=train.default_bucket_key,
                                   context=mx.cpu(0))
    return train, val, model


def run_system(system, args):
    """Train one system; returns a dict of results (printed as JSON by the worker)."""
    if system == "mxnet":
        import mxnet as mx
    else:
        import mxc as mx
    import logging
    import warnings
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")      # fit per epoch: "already initialized" notices
    t_start = time.perf_counter()
    train, val, model = build(mx, args)
    params = mx.nd.load(args.init)
    arg_params = {k: v for k, v in params.items()}
    val_ppl = []
    optimizer_params = {"learning_rate": args.lr, "wd": args.wd}
    if args.optimizer == "sgd":
        optimizer_params["momentum"] = args.mom
    epoch_times = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.fit(train_data=train, eval_metric=mx.metric.Perplexity(INVALID_LABEL),
                  kvstore="device", optimizer=args.optimizer,
                  optimizer_params=optimizer_params, arg_params=arg_params,
                  initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
                  begin_epoch=epoch, num_epoch=epoch + 1)
        epoch_times.append(time.perf_counter() - t0)
        metric = mx.metric.Perplexity(INVALID_LABEL)
        score = dict(model.score(val, metric))
        val_ppl.append(float(score["perplexity"]))
    nbatch = len(train.idx)
    samples = nbatch * args.batch_size
    later = epoch_times[1:]
    return {
        "system": system,
        "cell": args.cell,
        "threads": os.environ.get("OMP_NUM_THREADS", ""),
        "version": getattr(mx, "__version__", "?"),
        "batches_per_epoch": nbatch,
        "val_perplexity": val_ppl,
        "epoch_s": epoch_times,
        "first_epoch_samples_per_s": samples / epoch_times[0],
        "samples_per_s": (samples * len(later) / sum(later)) if later else None,
        "total_s": time.perf_counter() - t_start,
    }


# -- measurements of the pieces ---------------------------------------------------------------

def measure_parts(args):
    """Two per-batch costs, each both ways in one process (so under the same load): a
    BucketingModule bucket switch (one region copy and a shared optimizer state buffer vs the
    by-name copy of every parameter), and the fused RNN's forward + backward with its cell
    loops threaded vs serial."""
    import mxc as mx
    from mxc.compiler.ops import rnn as rnn_op
    from mxc.executor import Executor
    from mxc.module import bucketing_module as bm
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        make_corpus(folder, 20000, args.vocab)
        args.data = folder
        train, _val, model = build(mx, args)
        model.bind(train.provide_data, train.provide_label)
        model.init_params(mx.init.Xavier(factor_type="in", magnitude=2.34))
        model.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.01})
        shapes = {k: ([("data", (args.batch_size, k))], [("softmax_label", (args.batch_size, k))])
                  for k in (10, 20)}
        for k in (10, 20, 10):
            model.switch_bucket(k, *shapes[k])
        for name, same in (("bucket switch, one region copy + shared state", None),
                           ("bucket switch, by name", lambda src, dst: False)):
            saved = bm._same_layout
            if same is not None:
                bm._same_layout = same
                for m in model._buckets.values():
                    if m is not model._curr_module:
                        m.optimizer_initialized = False    # re-shared by name
            t0, n = time.perf_counter(), 50
            for _ in range(n):
                for k in (20, 10):
                    model.switch_bucket(k, *shapes[k])
            bm._same_layout = saved
            rows.append((name, (time.perf_counter() - t0) / (2 * n) * 1e3, "ms"))
    T, N = 35, args.batch_size
    runs = {}
    for name, minimum in (("fused lstm fwd+bwd, cells serial", rnn_op.CELL_PARALLEL_MIN),
                          ("fused lstm fwd+bwd, cells threaded", 1)):
        saved, rnn_op.CELL_PARALLEL_MIN = rnn_op.CELL_PARALLEL_MIN, minimum
        tag = "serial" if minimum > 1 else "threaded"
        sym = mx.sym.RNN(mx.sym.Variable(tag + "_data"), state_size=args.num_hidden,
                         num_layers=args.num_layers, mode="lstm", name=tag)
        ex = Executor(sym, {tag + "_data": (T, N, args.num_hidden)}, data_names=[tag + "_data"],
                      grad_req={k: "write" for k in sym.list_arguments()})
        rnn_op.CELL_PARALLEL_MIN = saved
        rng = np.random.RandomState(0)
        for k, a in ex.arg_arrays.items():
            a[...] = rng.uniform(-0.1, 0.1, a.shape)
        runs[name] = (ex, [])
    for _ in range(5):                       # alternately, 10 passes each
        for name, (ex, times) in runs.items():
            t0 = time.perf_counter()
            for _ in range(10):
                ex.forward(True)
                ex.backward()
            times.append((time.perf_counter() - t0) / 10)
    for name, (_ex, times) in runs.items():
        rows.append((name + " (T %d, N %d, median of 5)" % (T, N),
                     float(np.median(times)) * 1e3, "ms"))
    for name, value, unit in rows:
        print("%-62s %8.2f %s" % (name, value, unit))
    return 0


# -- the driver -------------------------------------------------------------------------------

def initial_params(args, path):
    """Draw the starting parameters with mxc's initializer (the example's Xavier, as
    Module.init_params applies it, without binding) and save them as a .params file both
    systems load."""
    import mxc as mx
    mx.random.seed(7)
    train, _val, model = build(mx, args)
    sym, data_names, label_names = model._call_sym_gen(train.default_bucket_key)
    shape = train.provide_data[0].shape
    arg_shapes, _, _ = sym.infer_shape(data=shape, softmax_label=shape)
    attrs = sym.attr_dict()
    init = mx.init.Xavier(factor_type="in", magnitude=2.34)
    params = {}
    for name, shp in sorted(zip(sym.list_arguments(), arg_shapes)):
        if name in data_names or name in label_names:
            continue
        params[name] = mx.nd.zeros(shp)
        init(mx.init.InitDesc(name, attrs.get(name, None)), params[name])
    mx.nd.save(path, params)


def worker_command(python, system, args, out):
    cmd = [python, os.path.abspath(__file__), "--worker", system, "--result", out]
    for key in ("data", "init", "epochs", "batch_size", "num_hidden", "num_layers",
                "optimizer", "lr", "mom", "wd", "cell"):
        cmd += ["--" + key.replace("_", "-"), str(getattr(args, key))]
    return cmd


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mxnet-python", default=os.environ.get("MXNET_PYTHON"),
                   help="a Python with mxnet 1.x installed (env MXNET_PYTHON); without it only "
                        "mxc runs")
    p.add_argument("--systems", default="mxc,mxnet")
    p.add_argument("--tokens", type=int, default=200000, help="training tokens")
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-hidden", type=int, default=200)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--cell", choices=("lstm", "fused"), default="lstm",
                   help="lstm: the example's LSTMCells unrolled; fused: one FusedRNNCell")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--mom", type=float, default=0.0)
    p.add_argument("--wd", type=float, default=0.00001)
    p.add_argument("--threads", type=int, default=0,
                   help="OMP_NUM_THREADS for both systems (default: as the environment says)")
    p.add_argument("--output", help="write the results as JSON here")
    p.add_argument("--measure", action="store_true",
                   help="instead of training: time a bucket switch both ways and the fused "
                        "RNN with its cell loops serial and threaded (mxc only)")
    # worker-only
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--init", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        res = run_system(args.worker, args)
        with open(args.result, "w") as f:
            json.dump(res, f)
        return 0
    if args.measure:
        return measure_parts(args)
    systems = [s for s in args.systems.split(",") if s]
    if "mxnet" in systems and not args.mxnet_python:
        print("no --mxnet-python (or MXNET_PYTHON): running mxc only")
        systems = [s for s in systems if s != "mxnet"]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        make_corpus(folder, args.tokens, args.vocab)
        print("corpus: %d training tokens, vocabulary %d (%.1f s)"
              % (args.tokens, args.vocab, time.perf_counter() - t0))
        args.data = folder
        args.init = os.path.join(folder, "init.params")
        initial_params(args, args.init)
        for system in systems:
            python = args.mxnet_python if system == "mxnet" else sys.executable
            out = os.path.join(folder, system + ".json")
            env = dict(os.environ)
            if args.threads:
                env["OMP_NUM_THREADS"] = str(args.threads)
            proc = subprocess.run(worker_command(python, system, args, out), env=env)
            if proc.returncode != 0:
                print("%s: failed (exit %d)" % (system, proc.returncode))
                continue
            with open(out) as f:
                results.append(json.load(f))
    print()
    print("%-6s %-8s %8s %12s %14s  %s" % ("system", "version", "epoch-1 s", "samples/s",
                                          "epoch-1 smp/s", "validation perplexity per epoch"))
    for r in results:
        print("%-6s %-8s %8.1f %12s %14.1f  %s" % (
            r["system"], r["version"], r["epoch_s"][0],
            "%.1f" % r["samples_per_s"] if r["samples_per_s"] else "-",
            r["first_epoch_samples_per_s"],
            " ".join("%.2f" % p for p in r["val_perplexity"])))
    if len(results) == 2:
        a, b = results
        print("final perplexity %s / %s = %.4f" % (a["system"], b["system"],
                                                   a["val_perplexity"][-1]
                                                   / b["val_perplexity"][-1]))
        if a["samples_per_s"] and b["samples_per_s"]:
            print("samples/s %s / %s = %.2f" % (a["system"], b["system"],
                                                a["samples_per_s"] / b["samples_per_s"]))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
