#!/usr/bin/env python
"""Run MXNet 1.9's own symbolic-API unit tests against mxc and count the outcomes.

    python tools/mxnet_tests.py PATH_TO_MXNET_CHECKOUT [FILES...] [--timeout S]

PATH_TO_MXNET_CHECKOUT is an apache/mxnet source tree at v1.9.x; its
tests/python/unittest files are read from there and run unchanged, each file in its own
pytest process with the mxnet_shim plugin (tools/mxnet_shim.py), which makes
`import mxnet` load mxc. Tests of Gluon, autograd, sparse storage and the NumPy interface
are out of scope and deselected by what their source uses; the count and reasons are
printed. For each file the tool prints `FILE: N passed, M failed, K errors, S skipped`,
the slowest tests, then a total and the most common first errors (the blockers).

    python tools/mxnet_tests.py PATH --reference-python VENV/bin/python

runs the same selection on a real MXNet 1.9.1 install (that interpreter, no re-routing) and
records each test's outcome in tools/mxnet_1.9.1_outcomes.json. Runs against mxc then also
print how many of the tests that pass on real MXNet pass on mxc, per file and in total.
"""
import json
import argparse
import ast
import collections
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TOOLS_DIR = pathlib.Path(__file__).resolve().parent
UNITTEST_DIR = pathlib.Path("tests", "python", "unittest")

DEFAULT_FILES = [
    "test_module", "test_symbol", "test_executor", "test_infer_shape", "test_attr",
    "test_optimizer", "test_metric", "test_io", "test_init", "test_random", "test_viz",
    "test_model_parallel", "test_multi_device_exec", "test_operator",
]

# test_operator.py covers far more than the symbolic Module API; these are its tests of
# the operator families in scope, by family.
OPERATOR_TESTS = {
    "FullyConnected": ["test_fully_connected"],
    "Convolution": ["test_convolution_grouping", "test_depthwise_convolution",
                    "test_convolution_independent_gradients",
                    "test_run_convolution_dilated_impulse_response",
                    "test_convolution_dilated_impulse_response",
                    "test_invalid_kernel_size", "test_valid_kernel_size"],
    "Deconvolution": ["test_deconvolution", "test_deconvolution_forward_with_bias"],
    "Pooling": ["test_valid_max_pooling_pad_type_same",
                "test_invalid_max_pooling_pad_type_same"],
    "BatchNorm": ["test_batchnorm_training", "test_batchnorm"],
    "activations": ["test_relu", "test_leaky_relu", "test_prelu", "test_selu", "test_gelu",
                    "test_sigmoid", "test_hard_sigmoid", "test_softsign", "test_activation"],
    "softmax family": ["test_softmin", "test_new_softmax", "test_softmax_with_temperature",
                       "test_log_softmax", "test_softmax_with_large_inputs",
                       "test_softmax_dtype", "test_softmax_with_length", "test_softmax",
                       "test_softmax_output_normalization", "test_softmax_cross_entropy",
                       "test_regression"],
    "Dropout": ["test_dropout"],
    "Concat": ["test_concat", "test_concat_with_zero_size_tensor", "test_elementwise_sum",
               "test_add_n", "test_slice_channel", "test_split_v2"],
    "Reshape": ["test_reshape", "test_reshape_like", "test_expand_dims", "test_squeeze_op",
                "test_transpose", "test_flip", "test_swapaxes"],
    "Embedding": ["test_embedding"],
    "elementwise": ["test_binary_op", "test_binary_op_duplicate_input", "test_abs",
                    "test_sign", "test_round_ceil_floor", "test_trunc", "test_rsqrt_cos_sin",
                    "test_maximum_minimum", "test_unary_math_operators",
                    "test_binary_math_operators", "test_mathematical", "test_reciprocal_op",
                    "test_cbrt_op", "test_rcbrt_op", "test_clip", "test_binary_logic",
                    "test_unary_logic", "test_blockgrad", "test_pow_fn", "test_symbol_pow"],
    "broadcast": ["test_broadcast_binary_op", "test_broadcast",
                  "test_broadcast_like_different_types"],
    "scalar": ["test_scalarop", "test_scalar_pow", "test_maximum_minimum_scalar",
               "test_scalarop_locale_invariance"],
    "reduction": ["test_reduce", "test_norm", "test_order"],
    "shape and indexing": ["test_shape_array", "test_size_array", "test_slice",
                           "test_slice_axis", "test_slice_like", "test_slice_partial_infer",
                           "test_take", "test_pick", "test_one_hot", "test_where", "test_tile",
                           "test_repeat", "test_reverse", "test_stack",
                           "test_scatter_gather_nd", "test_transpose_infer_shape_back",
                           "test_transpose_infer_shape_mixed"],
    "Cast": ["test_cast", "test_cast_float32_to_float16"],
}
SELECTED_TESTS = {"test_operator": {name for names in OPERATOR_TESTS.values() for name in names}}

# Out of scope: a test is deselected when its name says it is about one of these.
OUT_OF_SCOPE_NAMES = [
    ("Gluon", re.compile(r"gluon", re.I)),
    ("autograd", re.compile(r"autograd", re.I)),
    ("sparse storage", re.compile(r"sparse|csr|rsp|row_sparse", re.I)),
    ("NumPy interface", re.compile(r"numpy|^test_np_|_np_", re.I)),
]
# Kept tests whose source, or a module-level helper it reaches, also touches an
# out-of-scope API (mixed dense/sparse optimizer checks, autograd used as a reference, ...)
# are counted and named in the report, since they cannot pass without that API.
TOUCHES = [
    ("Gluon", re.compile(r"\bgluon\b")),
    ("autograd", re.compile(r"\bautograd\b|\battach_grad\b")),
    ("sparse storage", re.compile(r"\bstype\b|\btostype\b|row_sparse|\bcsr\b|\bsparse\b")),
    ("NumPy interface", re.compile(r"\bmx\.np\b|\bmx\.npx\b|\buse_np\b|\bnpx\.")),
]


# ----------------------------------------------------------------------------- selection

def module_definitions(tree):
    """{name: ast node} of a test module's top-level functions and classes (last one wins)."""
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def node_source(source, node):
    """Source of a definition, decorators included."""
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "\n".join(lines[first - 1:node.end_lineno])


def reached_definitions(name, definitions):
    """`name` and every module-level function or class its body names, transitively."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        todo.extend(n.id for n in ast.walk(definitions[current]) if isinstance(n, ast.Name))
    return seen


def out_of_scope_reason(name):
    for reason, pattern in OUT_OF_SCOPE_NAMES:
        if pattern.search(name):
            return "about %s" % reason
    return None


def touched_apis(name, source, definitions):
    """Out-of-scope APIs that a kept test's code reaches."""
    text = "\n".join(node_source(source, definitions[n])
                     for n in sorted(reached_definitions(name, definitions)))
    return [api for api, pattern in TOUCHES if pattern.search(text)]


def select_tests(path, stem):
    """(selected names, {reason: [deselected names]}, {selected name: [touched APIs]})."""
    source = path.read_text(encoding="utf-8")
    definitions = module_definitions(ast.parse(source, filename=str(path)))
    tests = [n for n, node in definitions.items()
             if n.startswith("test") and not isinstance(node, ast.ClassDef)]
    wanted = SELECTED_TESTS.get(stem)
    deselected = collections.defaultdict(list)
    selected = []
    for name in tests:
        if wanted is not None and name not in wanted:
            deselected["outside the symbolic-operator families"].append(name)
            continue
        reason = out_of_scope_reason(name)
        if reason:
            deselected[reason].append(name)
        else:
            selected.append(name)
    touching = {name: touched_apis(name, source, definitions) for name in selected}
    return selected, dict(deselected), {n: apis for n, apis in touching.items() if apis}


# ----------------------------------------------------------------------------- import audit

def mxnet_imports(path):
    """(module, name or None) for every `import mxnet.X` / `from mxnet.X import n` in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "mxnet"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "mxnet":
            found += [(node.module, None if a.name == "*" else a.name) for a in node.names]
    return found


def missing_import(module, name):
    """'mxnet.X[.name]' when mxc (through the shim) cannot provide it, else None."""
    import importlib
    try:
        target = importlib.import_module(module)
    except ImportError:
        return module
    if name is None or hasattr(target, name):
        return None
    try:
        importlib.import_module(module + "." + name)
        return None
    except ImportError:
        return module + "." + name


def missing_imports(paths):
    """Every mxnet name the given files import that mxc lacks, in first-seen order."""
    sys.path.insert(0, str(TOOLS_DIR))
    import mxnet_shim  # noqa: F401  (installs the mxnet -> mxc finder in this process)
    missing = []
    for path in paths:
        for module, name in mxnet_imports(path):
            absent = missing_import(module, name)
            if absent and absent not in missing:
                missing.append(absent)
    return missing


# ----------------------------------------------------------------------------- running

REFERENCE_OUTCOMES = TOOLS_DIR / "mxnet_1.9.1_outcomes.json"


def pytest_command(stem, names, junit_path, ini_path, python):
    return [python, "-m", "pytest", "-p", "mxnet_shim", "-p", "no:cacheprovider",
            "-c", str(ini_path), "--rootdir", ".", "-q", "--no-header", "-rN",
            "--junitxml", str(junit_path), "-o", "junit_family=xunit2"] + \
           ["%s.py::%s" % (stem, name) for name in names]


def subprocess_env(unittest_dir, per_test_timeout, reference):
    env = dict(os.environ)
    if reference:
        env["MXNET_SHIM_REFERENCE"] = "1"
    paths = [str(TOOLS_DIR), str(unittest_dir)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["MXNET_SHIM_TEST_TIMEOUT"] = str(per_test_timeout)
    return env


def run_file(unittest_dir, stem, names, per_test_timeout, file_timeout, python=None):
    """Run the selected tests of one file; returns (junit xml root or None, note)."""
    with tempfile.TemporaryDirectory(prefix="mxnet_tests_") as tmp:
        junit_path = pathlib.Path(tmp, "junit.xml")
        ini_path = pathlib.Path(tmp, "pytest.ini")
        ini_path.write_text("[pytest]\n")
        command = pytest_command(stem, names, junit_path, ini_path, python or sys.executable)
        try:
            done = subprocess.run(command, cwd=str(unittest_dir),
                                  env=subprocess_env(unittest_dir, per_test_timeout,
                                                     python is not None),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=file_timeout, text=True)
            note = "" if junit_path.exists() else last_lines(done.stdout)
        except subprocess.TimeoutExpired:
            note = "file ran past %d s and was stopped" % file_timeout
        if not junit_path.exists():
            return None, note or "pytest wrote no report"
        return ET.parse(junit_path).getroot(), note


def last_lines(text, count=5):
    return " | ".join(line for line in (text or "").strip().splitlines()[-count:])


# ----------------------------------------------------------------------------- counting

def error_line(element):
    """The first error of a failed test: its exception line, shapes and numbers kept."""
    message = (element.get("message") or "").strip()
    if message and message not in ("collection failure", "failed on setup with"):
        return message.splitlines()[0][:200]
    text_lines = [l[1:].strip() for l in (element.text or "").splitlines() if l.startswith("E ")]
    if text_lines:
        return text_lines[-1][:200] if "Error" in text_lines[-1] else text_lines[0][:200]
    return message[:200] or element.tag


def outcome(testcase):
    for tag in ("failure", "error", "skipped"):
        child = testcase.find(tag)
        if child is not None:
            return tag, child
    return "passed", None


def is_file_level(testcase, error, selected):
    """A collection error (the file failed to import) rather than one test's error."""
    return (error.get("message") == "collection failure" or not testcase.get("classname")
            or testcase.get("name") not in selected)


def tally(root, selected):
    """Counts, slowest tests and first errors of one file's junit report."""
    counts = collections.Counter()
    errors, times, outcomes, file_error = [], [], {}, ""
    for testcase in root.iter("testcase"):
        kind, child = outcome(testcase)
        name = testcase.get("name")
        if kind == "error" and is_file_level(testcase, child, selected):
            # A file-level error (import failed): none of its selected tests could run.
            counts["error"] += len(selected)
            file_error = error_line(child)
            errors.extend([file_error] * len(selected))
            continue
        counts[kind] += 1
        outcomes[name] = kind
        times.append((float(testcase.get("time") or 0), name))
        if kind in ("failure", "error"):
            errors.append(error_line(child))
    return counts, sorted(times, reverse=True), errors, outcomes, file_error


def normalise(message):
    """Group errors that differ only in numbers (shapes) or in the file paths they quote."""
    return re.sub(r"\d+", "N", re.sub(r" \((/|[A-Za-z]:\\)[^)]*\)", "", message))


def summary_line(label, counts):
    return "%s: %d passed, %d failed, %d errors, %d skipped" % (
        label, counts["passed"], counts["failure"], counts["error"], counts["skipped"])


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=pathlib.Path, help="apache/mxnet source tree (v1.9.x)")
    parser.add_argument("files", nargs="*", help="test file names (default: the symbolic-API set)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per test")
    parser.add_argument("--file-timeout", type=int, default=3600, help="seconds per file")
    parser.add_argument("--slowest", type=int, default=5, help="slowest tests shown per file")
    parser.add_argument("--blockers", type=int, default=20, help="first errors shown at the end")
    parser.add_argument("--reference-python", metavar="PYTHON",
                        help="run on real MXNet with this interpreter and record the outcomes")
    parser.add_argument("--outcomes", type=pathlib.Path, default=REFERENCE_OUTCOMES,
                        help="real MXNet's recorded outcomes (written by --reference-python)")
    parser.add_argument("--save-outcomes", type=pathlib.Path, metavar="JSON",
                        help="also write this run's outcome of every test to JSON")
    return parser.parse_args(argv)


def file_stems(files):
    return [pathlib.Path(f).name[:-3] if f.endswith(".py") else pathlib.Path(f).name
            for f in (files or DEFAULT_FILES)]


def helper_modules(unittest_dir, path):
    """MXNet's test helper module common.py, when the file imports it."""
    common = unittest_dir / "common.py"
    uses = re.search(r"^\s*(from common import|import common)", path.read_text(encoding="utf-8"),
                     re.M)
    return [common] if uses and common.is_file() else []


def report_deselected(stem, deselected):
    for reason, names in sorted(deselected.items()):
        print("  deselected %d (%s)" % (len(names), reason))


def report_touching(touching, outcomes):
    if not touching:
        return
    failed = [n for n in touching if outcomes.get(n) not in ("passed", "skipped")]
    print("  kept %d that also touch out-of-scope APIs (%d of them not passing): %s" % (
        len(touching), len(failed),
        ", ".join("%s [%s]" % (n, "/".join(apis)) for n, apis in sorted(touching.items()))))


def report_file(stem, counts, times, note, slowest):
    print(summary_line(stem, counts), flush=True)
    if note:
        print("  note: %s" % note)
    shown = ", ".join("%s %.1fs" % (name, t) for t, name in times[:slowest])
    if shown:
        print("  slowest: %s" % shown, flush=True)


def load_reference(path):
    """{file stem: {test name: outcome}} recorded on real MXNet, or {} when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["outcomes"]
    except (OSError, ValueError, KeyError):
        return {}


def passing_on_reference(reference, stem, selected):
    return [n for n in selected if reference.get(stem, {}).get(n) == "passed"]


def report_against_reference(stem, selected, outcomes, reference):
    """How many of the tests that pass on real MXNet pass here; names those that do not."""
    wanted = passing_on_reference(reference, stem, selected)
    if not wanted:
        return 0, 0
    passed = [n for n in wanted if outcomes.get(n) == "passed"]
    missed = sorted(set(wanted) - set(passed))
    print("  of the %d passing on MXNet 1.9.1: %d pass%s" % (
        len(wanted), len(passed), (" (not: %s)" % ", ".join(missed)) if missed else ""))
    return len(passed), len(wanted)


def write_reference(path, outcomes_by_file, python):
    version = subprocess.run([python, "-c", "import mxnet, numpy; print(mxnet.__version__, "
                              "numpy.__version__)"], stdout=subprocess.PIPE, text=True).stdout
    path.write_text(json.dumps({
        "recorded_with": "mxnet %s, numpy %s" % tuple((version.split() + ["?", "?"])[:2]),
        "outcomes": outcomes_by_file}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("recorded real MXNet's outcomes in %s" % path)


def main(argv=None):
    args = parse_args(argv)
    unittest_dir = (args.checkout / UNITTEST_DIR).resolve()
    if not unittest_dir.is_dir():
        sys.exit("error: %s has no %s (expected an apache/mxnet checkout)"
                 % (args.checkout, UNITTEST_DIR))
    recording = args.reference_python is not None
    reference = {} if recording else load_reference(args.outcomes)
    total, all_errors = collections.Counter(), collections.Counter()
    total_deselected = collections.Counter()
    recorded, against = {}, [0, 0]
    started = time.time()
    for stem in file_stems(args.files):
        path = unittest_dir / (stem + ".py")
        if not path.is_file():
            print("%s: not found in %s" % (stem, unittest_dir))
            continue
        selected, deselected, touching = select_tests(path, stem)
        for reason, names in deselected.items():
            total_deselected[reason] += len(names)
        if not selected:
            print(summary_line(stem, collections.Counter()) + " (nothing selected)")
            report_deselected(stem, deselected)
            continue
        root, note = run_file(unittest_dir, stem, selected, args.timeout, args.file_timeout,
                              args.reference_python)
        if root is None:
            counts = collections.Counter(error=len(selected))
            times, errors, outcomes = [], [note] * len(selected), {}
        else:
            counts, times, errors, outcomes, file_error = tally(root, set(selected))
            note = note or ("the file failed to import, none of its tests ran: %s" % file_error
                            if file_error else "")
        report_file(stem, counts, times, note, args.slowest)
        report_deselected(stem, deselected)
        recorded[stem] = {n: outcomes.get(n, "error") for n in selected}
        if not recording:
            report_touching(touching, outcomes)
            absent = missing_imports([path] + helper_modules(unittest_dir, path))
            if absent:
                print("  mxnet names it (or common.py) imports that mxc lacks: "
                      + ", ".join(absent))
            passed, wanted = report_against_reference(stem, selected, outcomes, reference)
            against[0] += passed
            against[1] += wanted
        total.update(counts)
        all_errors.update(normalise(e) for e in errors)
    print(summary_line("TOTAL", total) + " in %.0f s" % (time.time() - started))
    if against[1]:
        print("of the %d tests that pass on MXNet 1.9.1 (%s): %d pass (%.0f%%)" % (
            against[1], args.outcomes.name, against[0], 100.0 * against[0] / against[1]))
    for reason, count in sorted(total_deselected.items()):
        print("  deselected %d (%s)" % (count, reason))
    if all_errors:
        print("most common first errors:")
        for message, count in all_errors.most_common(args.blockers):
            print("  %4d  %s" % (count, message))
    if recording:
        write_reference(args.outcomes, recorded, args.reference_python)
    if args.save_outcomes:
        args.save_outcomes.write_text(json.dumps({"outcomes": recorded}, indent=1,
                                                 sort_keys=True) + "\n", encoding="utf-8")

if __name__ == "__main__":
    sys.exit(main())
