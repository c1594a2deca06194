"""Cold compile of an unrolled LSTM language model, as MXNet's bucketing example binds it.

    python bench/unrolled_compile.py                    # 10, 30 and 60 steps
    python bench/unrolled_compile.py --steps 60 --no-roll --vocab 1000

The graph: Embedding, a SequentialRNNCell of two LSTMCell(200) unrolled over the steps
(merge_outputs), Reshape, FullyConnected(vocab) and SoftmaxOutput; batch 32, training plan with
SGD. For each step count the script prints the lines and bytes of the generated C, the time to
make the plan, render it, and compile it (the graph's translation units, cffi's wrapper and the
link, exactly as a cold bind does, in a temporary folder; the shared kernels' object is taken
from the cache, compiled there first when missing).
`--no-roll` renders every entry-point step out instead of looping over repeated runs.
"""
import argparse
import pathlib
import sys
import tempfile
import time

if __package__ in (None, ""):                       # `python bench/unrolled_compile.py`
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def lstm_lm(steps, vocab=1000, hidden=200, layers=2):
    """The symbol of MXNet's example/rnn/bucketing/lstm_bucketing.py for one bucket."""
    import mxc as mx
    stack = mx.rnn.SequentialRNNCell()
    for i in range(layers):
        stack.add(mx.rnn.LSTMCell(num_hidden=hidden, prefix="lstm_l%d_" % i))
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data=data, input_dim=vocab, output_dim=hidden, name="embed")
    outputs = stack.unroll(steps, inputs=embed, merge_outputs=True)[0]
    pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
    pred = mx.sym.FullyConnected(data=pred, num_hidden=vocab, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    return mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")


def measure(steps, vocab=1000, hidden=200, batch=32, roll=True, compile_c=True):
    """{steps, nodes, lines, bytes, plan_s, render_s, compile_s} of one cold build."""
    from mxc.compiler import codegen
    from mxc.compiler.build import cache_key
    from mxc.compiler.plan import make_plan
    from mxc.compiler.target import CTarget, Rendered
    sym = lstm_lm(steps, vocab, hidden)
    t0 = time.perf_counter()
    plan = make_plan(sym, {"data": (batch, steps), "softmax_label": (batch, steps)},
                     ["data"], ["softmax_label"])
    t1 = time.perf_counter()
    glue, parts, header, cdef = codegen.render_split(plan, parts=2, kinds=["sgd"], roll=roll)
    rendered = Rendered(glue, header, cdef, tuple(("kernels", p) for p in parts) + (
        ("shared", codegen.render_shared(plan.ctype)),))
    t2 = time.perf_counter()
    text = [glue] + parts                   # what the bind compiles (not the shared kernels)
    row = {"steps": steps, "nodes": len(plan.nodes),
           "lines": sum(t.count("\n") for t in text), "bytes": sum(len(t) for t in text),
           "plan_s": t1 - t0, "render_s": t2 - t1, "compile_s": None}
    if compile_c:
        target = CTarget()
        # the shared kernels' object comes from the cache (compiled there once)
        target.shared_object(rendered.units[-1][1])
        with tempfile.TemporaryDirectory() as folder:
            t3 = time.perf_counter()
            target.compile(folder, "mxc", rendered, cache_key(target, rendered))
            row["compile_s"] = time.perf_counter() - t3
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="10,30,60", help="comma-separated step counts")
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--no-roll", action="store_true",
                    help="write every entry-point step out (no loops over repeated runs)")
    ap.add_argument("--no-compile", action="store_true", help="plan and render only")
    args = ap.parse_args(argv)
    print("%6s %6s %8s %9s %8s %9s %10s" % ("steps", "nodes", "lines", "bytes", "plan s",
                                           "render s", "compile s"))
    for steps in [int(s) for s in args.steps.split(",")]:
        r = measure(steps, args.vocab, args.hidden, roll=not args.no_roll,
                    compile_c=not args.no_compile)
        print("%6d %6d %8d %9d %8.2f %9.2f %10s" % (
            r["steps"], r["nodes"], r["lines"], r["bytes"], r["plan_s"], r["render_s"],
            "-" if r["compile_s"] is None else "%.1f" % r["compile_s"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
