#!/usr/bin/env python
"""Run MXNet 1.9's own example scripts, unchanged, on mxc.

    python tools/mxnet_examples.py MXNET_CHECKOUT [SCRIPT ...] [--timeout S] [--keep]

Each SCRIPT is a path under the checkout's example/ folder followed by its arguments, as one
shell word (e.g. "image-classification/train_mnist.py --network lenet --num-epochs 1");
without SCRIPT the default list below runs. For each script the tool copies the script's
folder into a fresh temporary working folder, puts local data where the script looks for it
(MNIST from the usual dataset folders: ./data, $MXNET_HOME/datasets/mnist,
$MXC_SHARED/data/mnist, shared/data/mnist beside the project; nothing is downloaded), runs
it in its own Python process in which `import mxnet` loads mxc (tools/mxnet_shim.py), and
prints the last metric lines it wrote, the mean of its Speedometer reports and its wall time.

Scripts that import `numba` get a stand-in when numba is not installed: `numba.jit` returns
the function unchanged (the same results, without the compilation). Benchmark runs of
train_cifar10.py (`--benchmark 1`, synthetic data) read no data file, but the script checks
for its two .rec files before parsing its arguments; the tool creates them empty and says so.
`--gpu-as-cpu` makes mx.gpu(i) stand for mx.cpu(i) in the scripts' processes, so that the
examples written for several GPUs (module/sequential_module.py, module/python_loss.py) run
on CPU contexts here; the tool says so beside each script. The scripts were written for NumPy 1.x: in their process `np.fromstring(bytes, dtype)` keeps
its old binary meaning, which NumPy 2 removed.
"""
import argparse
import gzip
import os
import pathlib
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

TOOLS_DIR = pathlib.Path(__file__).resolve().parent
PROJECT_DIR = TOOLS_DIR.parent

DEFAULT_SCRIPTS = [
    "module/mnist_mlp.py",
    "module/sequential_module.py",
    "module/python_loss.py",
    "image-classification/train_mnist.py --network mlp --num-epochs 1",
    "image-classification/train_mnist.py --network lenet --num-epochs 1",
    "image-classification/train_cifar10.py --benchmark 1 --network resnet --num-layers 20 "
    "--num-epochs 1 --num-examples 2560 --disp-batches 5",
]

GPU_AS_CPU_ENV = "MXC_EXAMPLES_GPU_AS_CPU"

MNIST_STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

# What a script's output says about how it trains: metric, speed and validation lines.
METRIC_LINE = re.compile(r"Epoch\[\d+\]|accuracy|acc[=:]|samples/sec|Speed|"
                         r"validation|Validation|cross-entropy|=\d", re.I)

SPEED = re.compile(r"Speed: ([0-9.]+) samples/sec")

NUMBA_STAND_IN = '''"""Stand-in for numba where it is not installed: jit returns the function."""


def jit(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda func: func


njit = jit
'''


# ----------------------------------------------------------------------------- data

def mnist_sources():
    """{stem: path of the plain or gzip IDX file} from the usual dataset folders."""
    from mxc import test_utils
    return {stem: test_utils._find_mnist_file(stem) for stem in MNIST_STEMS}


def place_mnist(data_dir):
    """data_dir gets each MNIST file both uncompressed and as .gz (the examples use both)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for stem, source in mnist_sources().items():
        plain, packed = data_dir / stem, data_dir / (stem + ".gz")
        if source.endswith(".gz"):
            shutil.copyfile(source, packed)
            with gzip.open(source, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(source, plain)
            with open(source, "rb") as src, gzip.open(packed, "wb") as dst:
                shutil.copyfileobj(src, dst)


def prepare(work, script, args):
    """Local data for `script` in the working folder `work`; returns notes to print."""
    notes = []
    text = script.read_text(encoding="utf-8")
    uses_mnist = "mnist" in script.name or "get_mnist" in text or "MNISTIter" in text
    if uses_mnist:
        place_mnist(work / "data")
        notes.append("MNIST placed in data/ (plain and .gz)")
    if script.name == "train_cifar10.py":
        if "--benchmark" not in " ".join(args) or "--benchmark 0" in " ".join(args):
            raise SystemExit("train_cifar10.py without --benchmark 1 needs CIFAR-10 .rec files, "
                             "which are not available locally")
        (work / "data").mkdir(exist_ok=True)
        for name in ("cifar10_train.rec", "cifar10_val.rec"):
            (work / "data" / name).touch()
        notes.append("synthetic data (--benchmark 1): empty data/cifar10_{train,val}.rec "
                     "placeholders, never read")
    return notes


# ----------------------------------------------------------------------------- running

def child_environment(shim_dir):
    env = dict(os.environ)
    paths = [str(shim_dir), str(TOOLS_DIR)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("MXC_SHARED", str(PROJECT_DIR.parent / "shared"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_script(checkout, spec, timeout, keep, gpu_as_cpu=False):
    """Run one example; returns (ok, seconds, metric lines, output tail)."""
    words = shlex.split(spec)
    relative, args = words[0], words[1:]
    source = pathlib.Path(checkout, "example", relative)
    if not source.is_file():
        raise SystemExit("%s: no such example script" % source)
    # The example folder: a script in a sub-folder of the folder holding common/ or utils/.
    folder = source.parent
    base = pathlib.Path(tempfile.mkdtemp(prefix="mxnet_example_"))
    work = base / folder.name
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    shim_dir = base / "_shim"
    shim_dir.mkdir()
    try:
        import numba  # noqa: F401
    except ImportError:
        (shim_dir / "numba.py").write_text(NUMBA_STAND_IN, encoding="utf-8")
    notes = prepare(work, work / source.name, args)
    env = child_environment(shim_dir)
    if gpu_as_cpu:
        env[GPU_AS_CPU_ENV] = "1"
        notes.append("mx.gpu(i) runs as mx.cpu(i) (--gpu-as-cpu)")
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--run-one",
               source.name] + args
    started = time.time()
    try:
        proc = subprocess.run(command, cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, text=True)
        output, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as err:
        output = err.stdout or ""
        output = output.decode() if isinstance(output, bytes) else output
        output += "\n[timed out after %g s]" % timeout
        code = None
    seconds = time.time() - started
    if keep:
        notes.append("working folder kept: %s" % work)
    else:
        shutil.rmtree(base, ignore_errors=True)
    lines = output.splitlines()
    metrics = [line for line in lines if METRIC_LINE.search(line)]
    return code == 0, seconds, notes, metrics, lines


def restore_numpy_fromstring():
    """MXNet 1.9's examples read binary data with np.fromstring(raw, dtype), which NumPy 2
    refuses; give that one call its old meaning (a copy of np.frombuffer's result)."""
    import numpy as np
    fromstring = np.fromstring

    def compatible_fromstring(string, dtype=float, count=-1, *, sep="", **kwargs):
        if sep == "" and isinstance(string, (bytes, bytearray, memoryview)):
            return np.frombuffer(string, dtype=dtype, count=count).copy()
        return fromstring(string, dtype=dtype, count=count, sep=sep, **kwargs)
    np.fromstring = compatible_fromstring


def gpu_as_cpu():
    """mx.gpu(i) (and mx.context.gpu(i)) give mx.cpu(i) from now on in this process."""
    from mxc import context

    def gpu(device_id=0):
        return context.cpu(device_id)
    context.gpu = gpu


def run_one(script, args):
    """Child mode: `import mxnet` loads mxc, then the script runs as __main__."""
    import mxnet_shim  # noqa: F401  (installs the mxnet -> mxc finder)
    restore_numpy_fromstring()
    if os.environ.get(GPU_AS_CPU_ENV) == "1":
        gpu_as_cpu()
    sys.argv = [script] + list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--run-one"]:
        return run_one(argv[1], argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", help="MXNet 1.9 source tree (its example/ folder is read)")
    parser.add_argument("scripts", nargs="*",
                        help="'PATH-UNDER-example/ [ARGS]' as one word (default: %s)"
                        % "; ".join(DEFAULT_SCRIPTS))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    parser.add_argument("--lines", type=int, default=8, help="metric lines shown per script")
    parser.add_argument("--keep", action="store_true", help="keep the working folders")
    parser.add_argument("--gpu-as-cpu", action="store_true",
                        help="mx.gpu(i) stands for mx.cpu(i) in the scripts")
    opts = parser.parse_args(argv)
    failures = 0
    for spec in opts.scripts or DEFAULT_SCRIPTS:
        ok, seconds, notes, metrics, lines = run_script(opts.checkout, spec, opts.timeout,
                                                        opts.keep, opts.gpu_as_cpu)
        print("== %s: %s in %.1f s" % (spec, "ok" if ok else "FAILED", seconds))
        for note in notes:
            print("   (%s)" % note)
        for line in metrics[-opts.lines:]:
            print("   " + line)
        speeds = [float(v) for v in SPEED.findall("\n".join(lines))]
        if speeds:
            print("   mean Speedometer speed: %.1f samples/s over %d reports (median %.1f)"
                  % (sum(speeds) / len(speeds), len(speeds), sorted(speeds)[len(speeds) // 2]))
        if not ok:
            failures += 1
            for line in lines[-15:]:
                print("   | " + line)
        sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
