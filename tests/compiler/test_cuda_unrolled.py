"""The CUDA build of an unrolled recurrent net: nodes with the same device code share their
kernels and launchers, and the repeated time steps are host loops, so the source does not grow
with the steps; the loops launch what the unrolled entry points launch, and the build compiles
with nvcc."""
import re

import pytest

import mxc as mx
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

VOCAB, HIDDEN, BATCH = 11, 6, 3


def lstm_lm(steps):
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=HIDDEN, prefix="lstm_l%d_" % i))
    embed = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=VOCAB, output_dim=HIDDEN,
                             name="embed")
    outputs = stack.unroll(steps, inputs=embed, merge_outputs=True)[0]
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, HIDDEN)),
                                 num_hidden=VOCAB, name="pred")
    label = mx.sym.Reshape(mx.sym.Variable("softmax_label"), shape=(-1,))
    return mx.sym.SoftmaxOutput(pred, label, name="softmax")


def plan_of(steps):
    shapes = {"data": (BATCH, steps), "softmax_label": (BATCH, steps)}
    return make_plan(lstm_lm(steps), shapes, ["data"], ["softmax_label"])


def entry(src, name):
    start = src.index("static int %s(" % name)
    return src[start:src.index("\n}\n", start)]


def statements(body):
    """What an entry point does, in order, host loops expanded: ("call", launcher, arguments),
    ("sum", destination, parts, size, accumulate) and ("zero", destination, size), every
    tensor as its arena offset."""
    ptrs = {m.group(1): int(m.group(2))
            for m in re.finditer(r"real\* const (\w+) = mem \+ (\d+);", body)}

    def offset(expr, step, table):
        m = re.fullmatch(r"mem \+ at\[step\]\[(\d+)\]", expr)
        if m:
            return table[step][int(m.group(1))]
        m = re.fullmatch(r"(\w+)(?: ([+-]) (\d+) \* step)?", expr)
        if not m or m.group(1) not in ptrs:
            return expr
        sign = -1 if m.group(2) == "-" else 1
        return ptrs[m.group(1)] + (sign * int(m.group(3)) * step if m.group(2) else 0)

    parts = None

    def run(lines, step, table, out):
        nonlocal parts
        for line in lines:
            line = line.strip()
            m = re.fullmatch(r"if \((\w+)\((.*)\)\) return -1;", line)
            if m:
                out.append(("call", m.group(1),
                            [offset(x, step, table) for x in m.group(2).split(", ")]))
            m = re.fullmatch(r"const real\* parts\[\d+\] = \{ (.*) \};", line)
            if m:
                parts = [offset(x, step, table) for x in m.group(1).split(", ")]
            m = re.fullmatch(r"for \(int p = 0; p < (\d+); p\+\+\) parts\[p\] = (.*) "
                             r"\+ \(int64_t\)p \* (-?\d+);", line)
            if m:
                first = offset(m.group(2), step, table)
                parts = [first + p * int(m.group(3)) for p in range(int(m.group(1)))]
            m = re.fullmatch(r"mxc_sum_parts\((.*), parts, \d+, (\d+), (\d)\);", line)
            if m:
                out.append(("sum", offset(m.group(1), step, table), parts, m.group(2),
                            m.group(3)))
            m = re.fullmatch(r"cudaMemsetAsync\((.*), 0, sizeof\(real\) \* (\d+)\);.*", line)
            if m:
                out.append(("zero", offset(m.group(1), step, table), m.group(2)))

    loop = re.compile(r"(\s*)for \(int64_t step = 0; step < (\d+); step\+\+\) \{")
    out, lines, i = [], body.split("\n"), 0
    while i < len(lines):
        table = None
        if lines[i].strip().startswith("static const int64_t at["):
            j = lines.index("    };", i)
            table = [[int(x) for x in re.search(r"\{ (.*) \}", row).group(1).split(", ")]
                     for row in lines[i + 1:j]]
            i = j + 1
        m = loop.match(lines[i])
        if m:
            end = lines.index(m.group(1) + "}", i)
            for step in range(int(m.group(2))):
                run(lines[i + 1:end], step, table, out)
            i = end + 1
            continue
        run([lines[i]], 0, None, out)
        i += 1
    return out


def test_the_source_does_not_grow_with_the_steps():
    sizes = {}
    for steps in (8, 32):
        src, _ = cuda.render(plan_of(steps), kinds=["sgd"])
        sizes[steps] = (src.count("__global__"), src.count("\nstatic int "),
                        src.count("\n"))
    assert sizes[32][:2] == sizes[8][:2]            # no kernel or launcher per step
    assert sizes[32][2] < 1.3 * sizes[8][2]
    src, _ = cuda.render(plan_of(32), kinds=["sgd"], roll=False)
    assert src.count("\n") > 2 * sizes[32][2]       # what rolling saves


@pytest.mark.parametrize("name", ["mxc_run_forward", "mxc_run_backward"])
def test_rolled_loops_launch_what_the_unrolled_entry_points_launch(name):
    plan = plan_of(12)
    rolled, _ = cuda.render(plan, kinds=["sgd"])
    flat, _ = cuda.render(plan, kinds=["sgd"], roll=False)
    assert "for (int64_t step" in entry(rolled, name)
    got, want = statements(entry(rolled, name)), statements(entry(flat, name))
    assert len(got) == len(want) > 12 * 10
    assert got == want


@needs_nvcc
def test_unrolled_lstm_builds_with_nvcc(tmp_path):
    src, cdef = cuda.render(plan_of(24), kinds=["sgd"])
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled
