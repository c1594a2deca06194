"""The exported C readers under sanitizers: a bounded libFuzzer run of the .params reader and
the trainer's data readers (tools/fuzz), and AddressSanitizer regressions for inputs that once
wrote past their buffers (a weight named twice; a raw file whose byte count wraps around)."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from exporthelp import make

REPO = pathlib.Path(__file__).resolve().parents[2]
FUZZ = REPO / "tools" / "fuzz"
sys.path.insert(0, str(FUZZ))
import make_corpus  # noqa: E402  (the seeds are built from the same generators as corpus/)
import run_c_fuzz  # noqa: E402

FULL = os.environ.get("MXC_FUZZ_FULL") == "1"
SECONDS = int(os.environ.get("MXC_FUZZ_SECONDS", "300" if FULL else "12"))
ASAN_EXIT = 99


def test_c_readers_libfuzzer(tmp_path):
    why = run_c_fuzz.fuzzer_support(run_c_fuzz.clang())
    if why:
        pytest.skip(why)
    res = subprocess.run([sys.executable, str(FUZZ / "run_c_fuzz.py"), "--seconds",
                          str(SECONDS), "--work", str(tmp_path), "--json"],
                         capture_output=True, text=True, timeout=4 * SECONDS + 600)
    assert res.returncode in (0, 1), res.stdout[-2000:] + res.stderr[-3000:]
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    for s in stats:
        print("%(harness)s: %(runs)d runs in %(seconds)d s (%(exec_per_s)d exec/s)" % s)
        assert not s["findings"] and s["rc"] == 0, s["log_tail"]
        assert s["runs"] > 1000, s             # the harness really ran
    assert res.returncode == 0


@pytest.fixture(scope="module")
def asan_export(tmp_path_factory):
    """The fuzz model's export, its trainer and self-check built with AddressSanitizer."""
    cc = "clang" if shutil.which("clang") else "gcc"
    out = tmp_path_factory.mktemp("asan") / "fz"
    subprocess.run([sys.executable, str(FUZZ / "build_model.py"), str(out)], check=True)
    flags = ("-std=c11 -O1 -g -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined "
             "-fno-sanitize-recover=all -fno-omit-frame-pointer")
    res = make(out, "-B", "fz_selfcheck", "fz_train", "CC=" + cc, "CFLAGS=" + flags)
    if res.returncode and "sanitize" in res.stderr:
        pytest.skip("%s cannot build with -fsanitize=address: %s" % (cc, res.stderr[-300:]))
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def _run(folder, *args):
    env = dict(os.environ, ASAN_OPTIONS="exitcode=%d:detect_leaks=1" % ASAN_EXIT,
               UBSAN_OPTIONS="exitcode=%d" % ASAN_EXIT)
    res = subprocess.run(list(args), cwd=folder, capture_output=True, text=True, env=env,
                         timeout=60)
    assert res.returncode != ASAN_EXIT and "Sanitizer" not in res.stderr, res.stderr[-3000:]
    return res


def test_asan_params_reader_refuses_hostile_files(asan_export, tmp_path):
    res = _run(asan_export, "./fz_selfcheck", "fz.params")
    assert res.returncode == 0, res.stderr
    seeds = make_corpus.params_seeds()
    expect = {
        "dup_extra.params": "9 arrays; graph fz has only 8",
        "dup_replaces.params": "names 'arg:conv_weight' twice (arrays 0 and 1)",
        "not_in_graph.params": "'arg:lenet_w', which is not a parameter of graph fz",
        "aux_as_arg.params": "'arg:bn_moving_var' is stored as arg",
        "wrong_shape.params": "'arg:fc_weight' has shape (8, 3), the graph expects (3, 8)",
        "float64.params": "'arg:fc_bias' has dtype float64",
        "none_array.params": "'arg:fc_bias' has shape (), the graph expects (3)",
        "nul_name.params": "name 7 ('aux:bn_moving_var\\x00x') contains a NUL byte",
        "names_mismatch.params": "has 8 arrays but 7 names",
        "huge_count.params": "has 1000000000000 arrays",
        "huge_dims.params": "array 0 announces more values than the file holds",
        "truncated.params": "is truncated",
        "empty.params": "lacks 'arg:conv_weight'",
    }
    for fname, want in expect.items():
        path = tmp_path / fname
        path.write_bytes(seeds[fname])
        res = _run(asan_export, "./fz_selfcheck", str(path))
        assert res.returncode == 2, (fname, res.stderr)
        assert want in res.stderr and str(path) in res.stderr, (fname, res.stderr)
    for fname in ("v1.params", "v3.params", "legacy.params"):     # other record layouts load
        path = tmp_path / fname
        path.write_bytes(seeds[fname])
        res = _run(asan_export, "./fz_selfcheck", str(path))
        assert "fz_selfcheck:" not in res.stderr, (fname, res.stderr)   # loaded (values differ)


def _pair(tmp_path, seed):
    """The two files of a data-harness seed ('i'/'r' + u32 split + first + second)."""
    blob = make_corpus.data_seeds()[seed]
    cut = int.from_bytes(blob[1:5], "little")
    first, second = tmp_path / (seed + ".data"), tmp_path / (seed + ".labels")
    first.write_bytes(blob[5:5 + cut])
    second.write_bytes(blob[5 + cut:])
    return str(first), str(second)


def _train(folder, fmt, data, labels, *extra):
    return _run(folder, "./fz_train", "--format", fmt, "--train", data, "--train-labels", labels,
                "--params", "fz.params", "--epochs", "1", "--prefix", "ck", *extra)


def test_asan_raw_reader_refuses_wrapping_sizes(asan_export, tmp_path):
    data, labels = _pair(tmp_path, "raw_ok")
    res = _train(asan_export, "raw", data, labels)
    assert res.returncode == 0 and "Epoch[0] Train-accuracy=" in res.stdout, res.stderr
    for seed, want in (("raw_wraps", "dimension 0 is 4611686018427387905 (at most 2^48)"),
                       ("raw_product_wraps", "announces more values than the file holds"),
                       ("raw_short", "announces more values than the file holds (44 bytes"),
                       ("raw_many_dims", "bad shape header (ndim 9"),
                       ("raw_zero_dim", "rows of 0 values")):
        data, labels = _pair(tmp_path, seed)
        res = _train(asan_export, "raw", data, labels)
        assert res.returncode == 1 and want in res.stderr, (seed, res.stderr)


def test_asan_idx_reader_checks_sizes(asan_export, tmp_path):
    data, labels = _pair(tmp_path, "idx_ok")
    res = _train(asan_export, "idx", data, labels)
    assert res.returncode == 0, res.stderr
    for seed, want in (("idx_longer_than_header", "announces 3 items of 4 bytes, the file "
                                                  "holds 14 bytes"),
                       ("idx_count_mismatch", "holds 3 images but"),
                       ("idx_huge_count", "announces 4294967295 items"),
                       ("idx_gzip", "gzip-compressed")):
        data, labels = _pair(tmp_path, seed)
        res = _train(asan_export, "idx", data, labels)
        assert res.returncode == 1 and want in res.stderr, (seed, res.stderr)
