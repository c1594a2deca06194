"""Standalone C inference export: build with make, self-check, predictions vs MXNet's, bad input."""
import ctypes
import subprocess

import numpy as np
import pytest

from mxc.compiler import export, symbol
from mxc.compiler.errors import MXNetError

from exporthelp import fptr, has, load, make

NAME = "mlp"


@pytest.fixture(scope="module")
def mlp_dir(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / NAME
    sym = symbol.load(str(shared_dir / "mxnet" / "mx_mlp-symbol.json"))
    arg, aux = export.read_params(str(shared_dir / "mxnet" / "mx_mlp-0003.params"))
    export.export(sym, arg, aux, {"data": (8, 16)}, str(out), name=NAME)
    res = make(out)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_files_and_selfcheck(mlp_dir):
    for f in ("mlp.h", "mlp.c", "mlp.params", "Makefile", "libmlp.a", "libmlp.so",
              "mlp_example", "mlp_selfcheck"):
        assert (mlp_dir / f).exists(), f
    res = subprocess.run(["./mlp_selfcheck", "mlp.params"], cwd=mlp_dir, capture_output=True,
                         text=True)
    assert res.returncode == 0 and "ok" in res.stdout, res.stdout + res.stderr


def test_selfcheck_detects_wrong_weights(mlp_dir, tmp_path):
    arg, aux = export.read_params(str(mlp_dir / "mlp.params"))
    arg["fc2_bias"][3] += 0.5          # (a shift of every bias would cancel in softmax)
    bad = tmp_path / "bad.params"
    bad.write_bytes(export.params_bytes(arg, aux, [(k, False) for k in arg]))
    res = subprocess.run([str(mlp_dir / "mlp_selfcheck"), str(bad)], capture_output=True)
    assert res.returncode == 1


def test_predict_matches_mxnet_with_partial_batch(mlp_dir, shared_dir):
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy").astype(np.float32)
    want = np.load(shared_dir / "mxnet" / "mx_mlp_pred.npy")
    lib = load(mlp_dir, NAME)
    m = ctypes.c_void_p()
    assert lib.mlp_create(ctypes.byref(m), str(mlp_dir / "mlp.params").encode()) == 0
    try:
        for n in (64, 13):                       # 13 rows: one partial batch of 5
            out = np.full((n, 26), np.nan, dtype=np.float32)
            xs = np.ascontiguousarray(x[:n])
            assert lib.mlp_predict(m, fptr(xs), n, fptr(out), out.size) == 0
            np.testing.assert_allclose(out, want[:n], atol=1e-5)
    finally:
        lib.mlp_free(m)


def test_predict_matches_module(mlp_dir, shared_dir):
    import mxc as mx
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy").astype(np.float32)
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mod = mx.mod.Module(sym)
    mod.bind(data_shapes=[("data", (8, 16))], for_training=False)
    mod.set_params(arg, aux)
    want = mod.predict(mx.io.NDArrayIter(x, batch_size=8)).asnumpy()
    lib = load(mlp_dir, NAME)
    m = ctypes.c_void_p()
    assert lib.mlp_create(ctypes.byref(m), str(mlp_dir / "mlp.params").encode()) == 0
    out = np.zeros((64, 26), dtype=np.float32)
    assert lib.mlp_predict(m, fptr(x), 64, fptr(out), out.size) == 0
    lib.mlp_free(m)
    np.testing.assert_allclose(out, want, atol=1e-6)


def _create_error(lib, path):
    m = ctypes.c_void_p()
    rc = lib.mlp_create(ctypes.byref(m), str(path).encode() if path is not None else None)
    assert m.value is None
    return rc, lib.mlp_last_error().decode()


def test_bad_params_files(mlp_dir, shared_dir, tmp_path):
    lib = load(mlp_dir, NAME)
    good = (mlp_dir / "mlp.params").read_bytes()
    rc, msg = _create_error(lib, tmp_path / "missing.params")
    assert rc == -2 and "cannot open" in msg
    for cut in (5, 30, len(good) // 2, len(good) - 3):
        p = tmp_path / "trunc.params"
        p.write_bytes(good[:cut])
        rc, msg = _create_error(lib, p)
        assert rc == -3 and "truncated" in msg, (cut, msg)
    rc, msg = _create_error(lib, shared_dir / "mxnet" / "lenet-0001.params")
    assert rc == -3 and "graph mlp" in msg and "a params file of another graph?" in msg
    p = tmp_path / "notparams"
    p.write_bytes(b"hello world, this is not a params file at all")
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "not an MXNet NDArray file" in msg
    # float64 weights: same shapes, type flag 1
    arg, aux = export.read_params(str(mlp_dir / "mlp.params"))
    import struct
    parts = [struct.pack("<QQQ", 0x112, 0, len(arg))]
    for k, v in arg.items():                      # a well-formed file of float64 arrays
        parts.append(struct.pack("<Iii%dqiii" % v.ndim, 0xF993FAC9, 0, v.ndim, *v.shape,
                                 1, 0, 1) + v.astype("<f8").tobytes())
    parts.append(struct.pack("<Q", len(arg)))
    parts += [struct.pack("<Q", len(k) + 4) + b"arg:" + k.encode() for k in arg]
    p.write_bytes(b"".join(parts))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "dtype float64" in msg
    arg["fc1_bias"] = np.zeros(63, np.float32)
    p.write_bytes(export.params_bytes(arg, aux, [(k, False) for k in arg]))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "fc1_bias" in msg and "(63)" in msg and "(64)" in msg
    del arg["fc1_bias"]
    p.write_bytes(export.params_bytes(arg, aux, [(k, False) for k in arg]))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "lacks 'arg:fc1_bias'" in msg
    rc, msg = _create_error(lib, None)
    assert rc == -1 and "NULL" in msg


def test_null_pointers_and_sizes(mlp_dir):
    lib = load(mlp_dir, NAME)
    assert lib.mlp_create(None, b"x") == -1
    assert lib.mlp_run(None) == -1 and "NULL" in lib.mlp_last_error().decode()
    m = ctypes.c_void_p()
    assert lib.mlp_create(ctypes.byref(m), str(mlp_dir / "mlp.params").encode()) == 0
    x = np.zeros(8 * 16, np.float32)
    assert lib.mlp_set_input(m, b"data", fptr(x), 8 * 16 - 1) == -1
    assert "takes 128 values, got 127" in lib.mlp_last_error().decode()
    assert lib.mlp_set_input(m, b"nope", fptr(x), 128) == -1
    assert "no input 'nope'" in lib.mlp_last_error().decode()
    assert lib.mlp_set_input(m, b"data", None, 128) == -1
    assert lib.mlp_get_output(m, 3, fptr(x), 128) == -1
    out = np.zeros(10, np.float32)
    assert lib.mlp_predict(m, fptr(x), 1, fptr(out), 10) == -1
    assert lib.mlp_load_params(m, b"/nonexistent/x.params") == -2
    lib.mlp_free(m)
    lib.mlp_free(None)


def test_embedded_weights_and_clang(shared_dir, tmp_path):
    sym = symbol.load(str(shared_dir / "mxnet" / "mx_mlp-symbol.json"))
    arg, aux = export.read_params(str(shared_dir / "mxnet" / "mx_mlp-0003.params"))
    export.export(sym, arg, aux, {"data": (4, 16)}, str(tmp_path), name="emb", embed=True)
    cc = "clang" if has("clang") else "gcc"
    if cc == "gcc":
        print("clang not installed: building the embedded export with gcc only")
    res = make(tmp_path, "emb_selfcheck", CC=cc)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["./emb_selfcheck"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_sanitizers_and_valgrind(mlp_dir, tmp_path):
    flags = "-std=c11 -O1 -g -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined " \
            "-fno-sanitize-recover=all"
    res = subprocess.run(["make", "-s", "-C", str(mlp_dir), "-B", "mlp_selfcheck",
                          "CFLAGS=" + flags], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["./mlp_selfcheck", "mlp.params"], cwd=mlp_dir, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["./mlp_selfcheck", "missing.params"], cwd=mlp_dir,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "cannot open" in res.stderr
    res = make(mlp_dir, "-B", "mlp_selfcheck")       # plain build again
    assert res.returncode == 0
    if not has("valgrind"):
        pytest.skip("valgrind not installed")
    # leaks are errors; OpenMP's thread pool may stay reachable at exit (not ours to free)
    res = subprocess.run(["valgrind", "--leak-check=full",
                          "--errors-for-leak-kinds=definite,indirect,possible",
                          "--error-exitcode=9", "./mlp_selfcheck", "mlp.params"], cwd=mlp_dir,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ERROR SUMMARY: 0 errors" in res.stderr
    assert ("All heap blocks were freed" in res.stderr
            or "definitely lost: 0 bytes" in res.stderr), res.stderr[-2000:]


def test_cross_compile_aarch64(shared_dir, tmp_path):
    if not (has("aarch64-linux-gnu-gcc") and has("qemu-aarch64")):
        pytest.skip("aarch64-linux-gnu-gcc or qemu-aarch64 not installed "
                    "(apt-get install gcc-aarch64-linux-gnu qemu-user)")
    sym = symbol.load(str(shared_dir / "mxnet" / "mx_mlp-symbol.json"))
    arg, aux = export.read_params(str(shared_dir / "mxnet" / "mx_mlp-0003.params"))
    export.export(sym, arg, aux, {"data": (4, 16)}, str(tmp_path), name="arm",
                  cc="aarch64-linux-gnu-gcc", target_flags="-march=armv8-a")
    res = make(tmp_path, "arm_selfcheck")
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "./arm_selfcheck",
                          "arm.params"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "ok" in res.stdout, res.stdout + res.stderr


def test_export_rejects_bad_arguments(shared_dir, tmp_path):
    sym = symbol.load(str(shared_dir / "mxnet" / "mx_mlp-symbol.json"))
    arg, aux = export.read_params(str(shared_dir / "mxnet" / "mx_mlp-0003.params"))
    with pytest.raises(MXNetError, match="C identifier"):
        export.export(sym, arg, aux, {"data": (4, 16)}, str(tmp_path), name="my-net")
    with pytest.raises(MXNetError, match="no shape given for input 'data'"):
        export.export(sym, arg, aux, {}, str(tmp_path), name="x")
    bad = dict(arg, fc1_weight=np.zeros((3, 3), np.float32))
    with pytest.raises(MXNetError, match="fc1_weight"):
        export.export(sym, bad, aux, {"data": (4, 16)}, str(tmp_path), name="x")


def test_module_export(shared_dir, tmp_path):
    import mxc as mx
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mod = mx.mod.Module(sym)
    mod.bind(data_shapes=[("data", (2, 16))], for_training=False)
    mod.set_params(arg, aux)
    mod.export(str(tmp_path), name="modexp")
    assert make(tmp_path).returncode == 0
    assert make(tmp_path, "check").returncode == 0
    with pytest.raises(MXNetError, match="not supported"):
        mod.export(str(tmp_path), target="opencl")


def test_params_reader_refuses_duplicates_and_huge_headers(mlp_dir, tmp_path):
    """Entries that name a weight twice, counts and shapes far beyond the file, NUL bytes in
    names: each is a clear error naming the file and the entry, never an allocation or a write."""
    import struct
    lib = load(mlp_dir, NAME)
    arg, aux = export.read_params(str(mlp_dir / "mlp.params"))
    order = [(k, False) for k in arg]
    p = tmp_path / "x.params"
    p.write_bytes(export.params_bytes(arg, aux, order + [("fc1_weight", False)]))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "has 5 arrays; graph mlp has only 4" in msg and str(p) in msg
    p.write_bytes(export.params_bytes(arg, aux, [("fc1_weight", False)] * 2 + order[2:]))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "names 'arg:fc1_weight' twice (arrays 0 and 1)" in msg, msg
    p.write_bytes(struct.pack("<QQQ", 0x112, 0, 10 ** 12))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "has 1000000000000 arrays" in msg
    p.write_bytes(struct.pack("<QQQIii2q", 0x112, 0, 1, 0xF993FAC9, 0, 2, 10 ** 6, 10 ** 6))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "announces more values than the file holds" in msg
    blob = export.params_bytes(arg, aux, order)
    p.write_bytes(blob.replace(b"arg:fc2_bias", b"arg:fc2\0bias"))
    rc, msg = _create_error(lib, p)
    assert rc == -3 and "'arg:fc2\\x00bias') contains a NUL byte" in msg, msg
