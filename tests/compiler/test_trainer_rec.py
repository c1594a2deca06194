"""The standalone C trainer reads RecordIO files of raw-pixel images (`pack_img(...,
img_fmt=".raw")`, `python -m mxc.im2rec --encoding .raw`): one epoch from a .rec equals one
epoch of Module.fit on the same pixels / 255 in the same order; records split around the magic
word are joined; damaged or JPEG records are errors naming the file and the record's offset."""
import struct
import subprocess

import numpy as np
import pytest

from exporthelp import has, make

pytestmark = pytest.mark.skipif(not has("make"), reason="needs make and a C compiler")

BATCH, COUNT, SHAPE = 8, 40, (3, 4, 5)


def write_rec(mx, path, images, labels):
    writer = mx.recordio.MXRecordIO(str(path), "w")
    for i, (img, label) in enumerate(zip(images, labels)):
        writer.write(mx.recordio.pack_img((0, float(label), i, 0), img[:, :, ::-1],
                                          img_fmt=".raw"))
    writer.close()


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    import mxc as mx
    out = tmp_path_factory.mktemp("rectrainer")
    net = mx.sym.FullyConnected(mx.sym.Flatten(mx.sym.Variable("data")), num_hidden=5,
                                name="fc")
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(net, name="softmax"), context=mx.cpu())
    mod.bind(data_shapes=[("data", (BATCH,) + SHAPE)], label_shapes=[("softmax_label", (BATCH,))])
    mx.random.seed(3)
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    mod.export(str(out), kind="trainer", name="rt")
    res = make(out)
    assert res.returncode == 0, res.stdout + res.stderr
    return out, mod


def run(folder, *args):
    return subprocess.run(["./rt_train", "--params", "rt.params", "--epochs", "1",
                           "--no-shuffle", "--prefix", "ck", "--format", "rec"] + list(args),
                          cwd=folder, capture_output=True, text=True, timeout=60)


def test_one_epoch_from_rec_equals_module_fit(trainer):
    import mxc as mx
    folder, mod = trainer
    rng = np.random.RandomState(0)
    c, h, w = SHAPE
    images = rng.randint(0, 256, (COUNT, h, w, c)).astype(np.uint8)   # RGB, (H, W, C)
    # the first image's pixels start with the magic word at a 4-byte aligned record offset
    # (24-byte header + 16-byte raw header): the writer splits that record in two chunks
    images[0].reshape(-1)[:4] = [0x0A, 0x23, 0xD7, 0xCE]
    labels = rng.randint(0, 5, COUNT)
    write_rec(mx, folder / "train.rec", images, labels)
    raw = (folder / "train.rec").read_bytes()
    assert struct.unpack("<I", raw[4:8])[0] >> 29 == 1        # a first chunk
    res = run(folder, "--train", "train.rec")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Epoch[0] Train-accuracy=")
    x = images.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    arg, aux = mod.get_params()
    ref = mx.mod.Module(mod.symbol, context=mx.cpu())
    ref.fit(mx.io.NDArrayIter(x, labels.astype(np.float32), batch_size=BATCH), num_epoch=1,
            arg_params=arg, aux_params=aux, optimizer="sgd",
            optimizer_params={"learning_rate": 0.5})
    want, _ = ref.get_params()
    _, got, _ = mx.model.load_checkpoint(str(folder / "ck"), 1)
    moved = 0.0
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k].asnumpy(), atol=1e-5, err_msg=k)
        moved = max(moved, np.abs(want[k].asnumpy() - arg[k].asnumpy()).max())
    assert moved > 1e-3


def test_bad_records_name_file_and_offset(trainer, tmp_path):
    import mxc as mx
    folder, _ = trainer
    c, h, w = SHAPE
    img = np.zeros((h, w, c), np.uint8)
    write_rec(mx, tmp_path / "ok.rec", [img, img], [1, 2])
    good = (tmp_path / "ok.rec").read_bytes()
    second = len(good) // 2
    cases = {
        "cut.rec": (good[:-7], "record at offset %d announces" % second),
        "junk.rec": (good + b"\x01\x02\x03\x04\x05\x06\x07\x08",
                     "no record header at offset %d" % len(good)),
    }
    for name, (data, want) in cases.items():
        (tmp_path / name).write_bytes(data)
        res = run(folder, "--train", str(tmp_path / name))
        assert res.returncode == 1 and str(tmp_path / name) in res.stderr and want in res.stderr, \
            (name, res.stderr)
    write_rec(mx, tmp_path / "size.rec", [img, np.zeros((h + 1, w, c), np.uint8)], [0, 0])
    res = run(folder, "--train", str(tmp_path / "size.rec"))
    assert res.returncode == 1 and "offset %d holds a 5 x 5 x 3 image" % second in res.stderr
    writer = mx.recordio.MXRecordIO(str(tmp_path / "jpeg.rec"), "w")
    writer.write(mx.recordio.pack_img((0, 1.0, 0, 0), img, img_fmt=".jpg"))
    writer.close()
    res = run(folder, "--train", str(tmp_path / "jpeg.rec"))
    assert res.returncode == 1 and "offset 0 is not a raw-pixel image" in res.stderr
    res = run(folder, "--train", str(tmp_path / "ok.rec"), "--format", "png", "--train-labels",
              str(tmp_path / "ok.rec"))
    assert res.returncode == 1 and "(csv, idx, raw, rec)" in res.stderr


@pytest.fixture(scope="module")
def asan_trainer(trainer, tmp_path_factory):
    """The same trainer built with AddressSanitizer and UndefinedBehaviorSanitizer."""
    import shutil
    folder, _ = trainer
    out = tmp_path_factory.mktemp("asanrec") / "rt"
    shutil.copytree(folder, out)
    cc = "clang" if shutil.which("clang") else "gcc"
    flags = ("-std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all "
             "-fno-omit-frame-pointer")
    res = make(out, "-B", "rt_train", "CC=" + cc, "CFLAGS=" + flags)
    if res.returncode and "sanitize" in res.stderr:
        pytest.skip("%s cannot build with -fsanitize=address: %s" % (cc, res.stderr[-300:]))
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_fuzzed_rec_files_give_clear_errors_only(asan_trainer, tmp_path):
    """Truncations, flipped length words and continuation flags, huge label counts and image
    sizes, random byte flips: each run ends with a trained epoch or an error naming the
    file, never a sanitizer report."""
    import os
    import mxc as mx
    c, h, w = SHAPE
    rng = np.random.RandomState(7)
    images = rng.randint(0, 256, (3, h, w, c)).astype(np.uint8)
    images[1].reshape(-1)[:4] = [0x0A, 0x23, 0xD7, 0xCE]   # a split record in the middle
    write_rec(mx, tmp_path / "seed.rec", images, [0, 1, 2])
    good = (tmp_path / "seed.rec").read_bytes()
    cases = [good[:cut] for cut in range(1, len(good), 9)]
    for at in range(0, len(good), 4):
        for word in (0xFFFFFFFF, 0x40000000, 0x60000004):
            cases.append(good[:at] + struct.pack("<I", word) + good[at + 4:])
    for _ in range(40):
        mutated = bytearray(good)
        for pos in rng.randint(0, len(good), rng.randint(1, 6)):
            mutated[pos] = rng.randint(0, 256)
        cases.append(bytes(mutated))
    env = dict(os.environ, ASAN_OPTIONS="exitcode=99:detect_leaks=1", UBSAN_OPTIONS="exitcode=99")
    path = tmp_path / "fuzz.rec"
    outcomes = set()
    for data in cases:
        path.write_bytes(data)
        res = subprocess.run(["./rt_train", "--params", "rt.params", "--epochs", "1",
                              "--prefix", str(tmp_path / "ck"), "--format", "rec",
                              "--train", str(path)], cwd=asan_trainer, capture_output=True,
                             text=True, env=env, timeout=60)
        assert res.returncode in (0, 1) and "Sanitizer" not in res.stderr, res.stderr[-2000:]
        assert res.returncode == 0 or str(path) in res.stderr, res.stderr
        outcomes.add(res.returncode)
    assert outcomes == {0, 1}
