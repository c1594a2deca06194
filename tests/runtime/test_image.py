"""mx.image and the image side of mx.recordio: decoding (PNG exact, JPEG within a stated
tolerance), resizing against per-pixel references, crops, augmenters against NumPy,
ImageIter batches from .rec and .lst files."""
import io
import random
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

Image = pytest.importorskip("PIL.Image", reason="mx.image needs Pillow (pip install 'mxc[image]')")

# JPEG is lossy: a smooth image at quality 95 comes back within this mean / max error
JPEG_MEAN_TOL, JPEG_MAX_TOL = 2.0, 16


def smooth_image(h=24, w=32, seed=0):
    """A smooth uint8 RGB image (gradients plus a low-frequency wave): JPEG-friendly."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [60 + 120 * x / w + 20 * np.sin(y / 5.0 + rng.rand()),
             40 + 150 * y / h, 200 - 100 * (x + y) / (w + h)]
    return np.clip(np.stack(chans, axis=2), 0, 255).astype(np.uint8)


def encode(rgb, fmt, **kwargs):
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **kwargs)
    return out.getvalue()


def test_imdecode_png_exact_and_bgr():
    rgb = np.random.RandomState(1).randint(0, 256, (9, 13, 3)).astype(np.uint8)
    buf = encode(rgb, "PNG")
    img = mx.image.imdecode(buf)
    assert img.shape == (9, 13, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img.asnumpy(), rgb)
    np.testing.assert_array_equal(mx.image.imdecode(buf, to_rgb=False).asnumpy(),
                                  rgb[:, :, ::-1])
    np.testing.assert_array_equal(mx.image.imdecode(np.frombuffer(buf, np.uint8)).asnumpy(),
                                  rgb)
    grey = mx.image.imdecode(buf, flag=0).asnumpy()
    assert grey.shape == (9, 13, 1)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[:, :, 0] - luma).max() <= 1.0  # integer rounding of the luma


def test_imdecode_jpeg_within_tolerance(tmp_path):
    rgb = smooth_image()
    buf = encode(rgb, "JPEG", quality=95)
    img = mx.image.imdecode(buf).asnumpy().astype(np.int32)
    err = np.abs(img - rgb)
    assert err.mean() < JPEG_MEAN_TOL and err.max() <= JPEG_MAX_TOL
    path = tmp_path / "pic.jpg"
    path.write_bytes(buf)
    np.testing.assert_array_equal(mx.image.imread(str(path)).asnumpy(), img)
    grey = mx.image.imdecode(buf, flag=0).asnumpy()[:, :, 0].astype(np.float64)
    assert np.abs(grey - rgb @ np.array([0.299, 0.587, 0.114])).mean() < JPEG_MEAN_TOL


def test_pack_img_unpack_img_png_and_jpeg():
    rgb = smooth_image(seed=3)
    bgr = rgb[:, :, ::-1].copy()
    header = mx.recordio.IRHeader(0, [1.0, 4.0], 17, 0)
    got_header, got = mx.recordio.unpack_img(mx.recordio.pack_img(header, bgr, img_fmt=".png"))
    assert got_header.id == 17 and list(got_header.label) == [1.0, 4.0]
    np.testing.assert_array_equal(got, bgr)  # OpenCV's layout: BGR in, BGR out
    grey = rgb[:, :, 1].copy()
    _, got = mx.recordio.unpack_img(mx.recordio.pack_img(header, grey, img_fmt=".png"))
    np.testing.assert_array_equal(got, grey)
    _, got = mx.recordio.unpack_img(mx.recordio.pack_img(header, grey, img_fmt=".png"), 1)
    np.testing.assert_array_equal(got, np.repeat(grey[:, :, None], 3, axis=2))
    bgra = np.concatenate([bgr, np.full(bgr.shape[:2] + (1,), 77, np.uint8)], axis=2)
    _, got = mx.recordio.unpack_img(mx.recordio.pack_img(header, bgra, img_fmt=".png"))
    np.testing.assert_array_equal(got, bgra)
    _, got = mx.recordio.unpack_img(mx.recordio.pack_img(header, bgr, quality=95))
    err = np.abs(got.astype(np.int32) - bgr)
    assert err.mean() < JPEG_MEAN_TOL and err.max() <= JPEG_MAX_TOL
    with pytest.raises(MXNetError, match="img_fmt"):
        mx.recordio.pack_img(header, bgr, img_fmt=".gif")
    with pytest.raises(MXNetError, match="uint8"):
        mx.recordio.pack_img(header, bgr.astype(np.float32))


def test_bad_images_and_missing_pillow(monkeypatch):
    with pytest.raises(MXNetError, match="cannot decode an image from 9 bytes"):
        mx.image.imdecode(b"not a png")
    with pytest.raises(MXNetError, match="empty"):
        mx.image.imdecode(b"")
    with pytest.raises(MXNetError, match="cannot read"):
        mx.image.imread("no-such-file.png")
    png = encode(smooth_image(), "PNG")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MXNetError, match=r"mxc\[image\]"):
        mx.image.imdecode(png)


def test_damaged_images_give_mxnet_errors():
    rgb = np.random.RandomState(4).randint(0, 256, (10, 12, 3)).astype(np.uint8)
    rng = random.Random(5)
    for fmt in ("PNG", "JPEG"):
        data = encode(rgb, fmt)
        cuts = sorted(rng.sample(range(len(data)), 60))
        damaged = [data[:cut] for cut in cuts]
        for _ in range(60):
            flipped = bytearray(data)
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            damaged.append(bytes(flipped))
        for buf in damaged:
            for flag in (0, 1):
                try:
                    img = mx.image.imdecode(buf, flag=flag)
                except MXNetError as err:
                    assert "decode" in str(err) or "empty" in str(err)
                else:  # JPEG (and PNG past its image data) can decode despite damage
                    assert img.shape == (10, 12, 3 if flag else 1)


# --------------------------------------------------------------------------- resizing


def resize_reference(img, w, h, interp):
    """Per-pixel loops over OpenCV's definitions (half-pixel centres, replicated borders)."""
    src = img.astype(np.float64)
    in_h, in_w = img.shape[:2]
    sy, sx = in_h / h, in_w / w
    out = np.zeros((h, w) + img.shape[2:])

    def taps(pos, scale, n):
        if interp == 0:
            return [(min(int(np.floor(pos * scale)), n - 1), 1.0)]
        f = (pos + 0.5) * scale - 0.5
        i = int(np.floor(f))
        t = f - i
        clamp = lambda k: min(max(k, 0), n - 1)  # noqa: E731
        if interp == 1:
            return [(clamp(i), 1 - t), (clamp(i + 1), t)]
        a = -0.75  # OpenCV's bicubic
        ws = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
              ((a + 2) * t - (a + 3)) * t * t + 1,
              ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1]
        ws.append(1 - sum(ws))
        return [(clamp(i - 1 + k), ws[k]) for k in range(4)]

    for oy in range(h):
        for ox in range(w):
            for iy, wy in taps(oy, sy, in_h):
                for ix, wx in taps(ox, sx, in_w):
                    out[oy, ox] += wy * wx * src[iy, ix]
    return out


@pytest.mark.parametrize("interp", [0, 1, 2])
@pytest.mark.parametrize("size", [(7, 5), (19, 13), (11, 11)])
def test_imresize_matches_reference(interp, size):
    img = np.random.RandomState(interp).rand(8, 10, 3).astype(np.float32) * 255
    got = mx.image.imresize(mx.nd.array(img), size[0], size[1], interp=interp).asnumpy()
    assert got.shape == (size[1], size[0], 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, resize_reference(img, size[0], size[1], interp),
                               rtol=1e-5, atol=1e-3)
    u8 = img.astype(np.uint8)
    got8 = mx.image.imresize(mx.nd.array(u8, dtype=np.uint8), size[0], size[1], interp)
    ref8 = np.clip(np.rint(resize_reference(u8, size[0], size[1], interp)), 0, 255)
    assert got8.dtype == np.uint8 and np.abs(got8.asnumpy() - ref8).max() <= 1


@pytest.mark.parametrize("interp", [0, 1, 2, 3, 4])
def test_imresize_and_decode_match_opencv_when_installed(interp):
    cv2 = pytest.importorskip("cv2", reason="the OpenCV cross-check needs opencv-python")
    rng = np.random.RandomState(interp)
    for in_hw, out_hw in [((8, 10), (5, 7)), ((8, 10), (13, 19)), ((9, 9), (27, 27)),
                          ((8, 10), (4, 19)), ((64, 48), (20, 15))]:
        img = (rng.rand(*in_hw, 3) * 255).astype(np.float32)
        ref = cv2.resize(img, out_hw[::-1], interpolation=interp)
        got = mx.image.imresize(img, out_hw[1], out_hw[0], interp).asnumpy()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)
        u8 = img.astype(np.uint8)
        ref8 = cv2.resize(u8, out_hw[::-1], interpolation=interp).astype(np.int32)
        got8 = mx.image.imresize(mx.nd.array(u8, dtype=np.uint8), out_hw[1], out_hw[0], interp)
        assert np.abs(got8.asnumpy() - ref8).max() <= 1  # OpenCV's fixed-point uint8 paths
    buf = np.frombuffer(encode(smooth_image(), "JPEG", quality=90), np.uint8)
    np.testing.assert_array_equal(mx.image.imdecode(buf, to_rgb=False).asnumpy(),
                                  cv2.imdecode(buf, 1))
    np.testing.assert_array_equal(mx.image.imdecode(buf, 0).asnumpy()[:, :, 0],
                                  cv2.imdecode(buf, 0))


def test_imresize_area_and_lanczos_closed_forms():
    img = np.random.RandomState(5).rand(8, 12, 3).astype(np.float32)
    # shrinking by 2 with area averaging: the mean of each 2x2 block
    blocks = img.reshape(4, 2, 6, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(mx.image.imresize(img, 6, 4, interp=3).asnumpy(), blocks,
                               rtol=1e-5)
    for interp in (1, 2, 3, 4):  # the same size is the identity; a constant stays constant
        np.testing.assert_allclose(mx.image.imresize(img, 12, 8, interp).asnumpy(), img,
                                   atol=1e-5)
        const = np.full((5, 7, 3), 42.0, np.float32)
        np.testing.assert_allclose(mx.image.imresize(const, 13, 3, interp).asnumpy(), 42.0,
                                   rtol=1e-5)
    with pytest.raises(MXNetError, match="positive"):
        mx.image.imresize(img, 0, 4)
    with pytest.raises(ValueError, match="interp"):
        mx.image.imresize(img, 3, 4, interp=7)


def test_crops_and_resize_short():
    img = np.arange(6 * 10 * 3, dtype=np.float32).reshape(6, 10, 3)
    assert mx.image.scale_down((640, 480), (720, 120)) == (640, 106)
    assert mx.image.resize_short(img, 3).shape == (3, 5, 3)
    assert mx.image.resize_short(img.transpose(1, 0, 2), 3).shape == (5, 3, 3)
    out, box = mx.image.center_crop(img, (4, 2))
    assert box == (3, 2, 4, 2)
    np.testing.assert_array_equal(out.asnumpy(), img[2:4, 3:7])
    np.testing.assert_array_equal(mx.image.fixed_crop(img, 1, 2, 3, 4).asnumpy(),
                                  img[2:6, 1:4])
    resized = mx.image.fixed_crop(img, 0, 0, 4, 4, size=(2, 2), interp=3).asnumpy()
    np.testing.assert_allclose(resized, img[:4, :4].reshape(2, 2, 2, 2, 3).mean(axis=(1, 3)))
    for seed in range(5):
        random.seed(seed)
        out, (x0, y0, w, h) = mx.image.random_crop(img, (5, 3))
        assert (w, h) == (5, 3) and 0 <= x0 <= 5 and 0 <= y0 <= 3
        np.testing.assert_array_equal(out.asnumpy(), img[y0:y0 + 3, x0:x0 + 5])
    with pytest.raises(MXNetError, match="outside"):
        mx.image.fixed_crop(img, 8, 0, 5, 2)
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 8.0])
    np.testing.assert_allclose(mx.image.color_normalize(img, mean, std).asnumpy(),
                               (img - mean) / std, rtol=1e-6)


# --------------------------------------------------------------------------- augmenters


def test_augmenters_against_numpy():
    rng = np.random.RandomState(7)
    img = (rng.rand(6, 8, 3) * 255).astype(np.float32)
    src = mx.nd.array(img)
    coef = np.array([0.299, 0.587, 0.114])
    for seed in range(3):
        random.seed(seed)
        alpha = 1.0 + random.uniform(-0.4, 0.4)
        random.seed(seed)
        np.testing.assert_allclose(mx.image.BrightnessJitterAug(0.4)(src).asnumpy(),
                                   img * alpha, rtol=1e-5)
        random.seed(seed)
        contrast = mx.image.ContrastJitterAug(0.3)(src).asnumpy()
        mean_grey = (img.astype(np.float64) @ coef).mean()
        random.seed(seed)
        alpha = 1.0 + random.uniform(-0.3, 0.3)
        np.testing.assert_allclose(contrast, img * alpha + (1 - alpha) * mean_grey, rtol=1e-4)
        random.seed(seed)
        saturation = mx.image.SaturationJitterAug(0.5)(src).asnumpy()
        random.seed(seed)
        alpha = 1.0 + random.uniform(-0.5, 0.5)
        grey = (img.astype(np.float64) @ coef)[:, :, None]
        np.testing.assert_allclose(saturation, img * alpha + (1 - alpha) * grey, rtol=1e-4)
    np.testing.assert_array_equal(mx.image.HorizontalFlipAug(1.0)(src).asnumpy(),
                                  img[:, ::-1])
    np.testing.assert_array_equal(mx.image.HorizontalFlipAug(0.0)(src).asnumpy(), img)
    assert mx.image.CastAug()(mx.nd.array(img, dtype=np.uint8)).dtype == np.float32
    mean, std = np.array([10.0, 20.0, 30.0]), np.array([2.0, 3.0, 4.0])
    np.testing.assert_allclose(mx.image.ColorNormalizeAug(mean, std)(src).asnumpy(),
                               (img - mean) / std, rtol=1e-5)
    assert mx.image.ResizeAug(3)(src).shape == (3, 4, 3)
    assert mx.image.ForceResizeAug((5, 2))(src).shape == (2, 5, 3)
    assert mx.image.CenterCropAug((4, 4))(src).shape == (4, 4, 3)
    assert mx.image.RandomCropAug((4, 4))(src).shape == (4, 4, 3)
    assert mx.image.RandomSizedCropAug((3, 5), 0.3, (0.75, 1.33))(src).shape == (5, 3, 3)
    # two brightness factors commute: any order gives the product
    random.seed(3)
    both = mx.image.RandomOrderAug([mx.image.BrightnessJitterAug(0.2),
                                    mx.image.BrightnessJitterAug(0.2)])(src).asnumpy()
    ratio = both / np.maximum(img, 1e-3)
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4) and 0.64 <= ratio.flat[0] <= 1.44


def test_create_augmenter():
    augs = mx.image.CreateAugmenter((3, 4, 5), resize=6, rand_crop=True, rand_mirror=True,
                                    mean=True, std=True, brightness=0.1)
    names = [type(a).__name__ for a in augs]
    assert names == ["ResizeAug", "RandomCropAug", "HorizontalFlipAug", "CastAug",
                     "ColorJitterAug", "ColorNormalizeAug"]
    assert augs[1].size == (5, 4)
    names = [type(a).__name__ for a in mx.image.CreateAugmenter((3, 4, 5))]
    assert names == ["CenterCropAug", "CastAug"]
    names = [type(a).__name__ for a in mx.image.CreateAugmenter((3, 4, 5), hue=0.1,
                                                                 pca_noise=0.1, rand_gray=0.2)]
    assert names[-3:] == ["HueJitterAug", "LightingAug", "RandomGrayAug"]
    with pytest.raises(MXNetError, match="mean"):
        mx.image.CreateAugmenter((3, 4, 5), mean=np.zeros(2))


def test_hue_lighting_and_gray_augmenters():
    img = (np.random.RandomState(8).rand(5, 6, 3) * 255).astype(np.float32)
    luma = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for seed in range(3):
        random.seed(seed)
        out = mx.image.HueJitterAug(0.5)(mx.nd.array(img)).asnumpy().astype(np.float64)
        # a rotation in the YIQ chroma plane keeps each pixel's luma
        np.testing.assert_allclose(out @ np.array([0.299, 0.587, 0.114]), luma, atol=0.5)
    random.seed(0)
    assert random.uniform(-0.5, 0.5) != 0  # the first draw below rotates the hue
    random.seed(0)
    assert not np.allclose(mx.image.HueJitterAug(0.5)(img).asnumpy(), img, atol=1)
    grey = np.full((4, 4, 3), 90.0, np.float32)  # no chroma: a hue rotation leaves it
    np.testing.assert_allclose(mx.image.HueJitterAug(0.5)(grey).asnumpy(), grey, atol=0.5)
    eigval, eigvec = np.array([3.0, 2.0, 1.0]), np.eye(3)[::-1]
    np.random.seed(4)
    alpha = np.random.normal(0, 0.1, size=3)
    np.random.seed(4)
    out = mx.image.LightingAug(0.1, eigval, eigvec)(img).asnumpy()
    np.testing.assert_allclose(out - img, np.broadcast_to((eigval * alpha)[::-1], img.shape),
                               rtol=1e-4, atol=1e-4)
    out = mx.image.RandomGrayAug(1.0)(img).asnumpy()
    expect = img @ np.array([0.21, 0.72, 0.07])
    for chan in range(3):
        np.testing.assert_allclose(out[:, :, chan], expect, rtol=1e-5)
    np.testing.assert_array_equal(mx.image.RandomGrayAug(0.0)(img), img)


# --------------------------------------------------------------------------- ImageIter


def write_rec(tmp_path, count, labels):
    rec, idx = str(tmp_path / "img.rec"), str(tmp_path / "img.idx")
    writer = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    images = []
    for i in range(count):
        rgb = np.random.RandomState(i).randint(0, 256, (6, 7, 3)).astype(np.uint8)
        images.append(rgb)
        header = mx.recordio.IRHeader(0, labels[i], i, 0)
        writer.write_idx(i, mx.recordio.pack_img(header, rgb[:, :, ::-1], img_fmt=".png"))
    writer.close()
    return rec, idx, images


def chw(rgb, box=(0, 0, 7, 6)):
    x0, y0, w, h = box
    return rgb[y0:y0 + h, x0:x0 + w].transpose(2, 0, 1).astype(np.float32)


def test_image_iter_rec_pad_and_discard(tmp_path):
    rec, idx, images = write_rec(tmp_path, 5, [float(i) for i in range(5)])
    it = mx.image.ImageIter(2, (3, 6, 7), path_imgrec=rec)
    assert it.provide_data[0].shape == (2, 3, 6, 7) and it.provide_label[0].shape == (2,)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 1]
    labels = np.concatenate([b.label[0].asnumpy() for b in batches])
    np.testing.assert_array_equal(labels, [0, 1, 2, 3, 4, 0])  # padded from the start
    data = np.concatenate([b.data[0].asnumpy() for b in batches])
    for row, k in enumerate([0, 1, 2, 3, 4, 0]):
        np.testing.assert_array_equal(data[row], chw(images[k]))
    it.reset()
    assert len(list(it)) == 3
    it = mx.image.ImageIter(2, (3, 4, 4), path_imgrec=rec, path_imgidx=idx,
                            last_batch_handle="discard")
    batches = list(it)
    assert len(batches) == 2 and all(b.pad == 0 for b in batches)
    np.testing.assert_array_equal(batches[0].data[0].asnumpy()[1],
                                  chw(images[1], (1, 1, 4, 4)))  # centre crop of 7x6


def test_image_iter_shuffle_parts_and_vector_labels(tmp_path):
    labels = [[i, 10 + i] for i in range(6)]
    rec, idx, _ = write_rec(tmp_path, 6, labels)
    random.seed(0)
    it = mx.image.ImageIter(3, (3, 6, 7), label_width=2, path_imgrec=rec, path_imgidx=idx,
                            shuffle=True)
    got = np.concatenate([b.label[0].asnumpy() for b in it])
    assert got.shape == (6, 2) and sorted(got[:, 0]) == list(range(6))
    np.testing.assert_array_equal(got[:, 1], got[:, 0] + 10)
    part = mx.image.ImageIter(3, (3, 6, 7), label_width=2, path_imgrec=rec, path_imgidx=idx,
                              part_index=1, num_parts=2)
    np.testing.assert_array_equal(next(part).label[0].asnumpy()[:, 0], [3, 4, 5])


def test_image_iter_list_file(tmp_path):
    rgbs = []
    with open(tmp_path / "train.lst", "w") as lst:
        for i in range(3):
            rgb = smooth_image(6, 7, seed=i)
            rgbs.append(rgb)
            (tmp_path / ("im%d.png" % i)).write_bytes(encode(rgb, "PNG"))
            lst.write("%d\t%d\tim%d.png\n" % (i, 2 * i, i))
    it = mx.image.ImageIter(3, (3, 6, 7), path_imglist=str(tmp_path / "train.lst"),
                            path_root=str(tmp_path))
    batch = next(it)
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [0, 2, 4])
    np.testing.assert_array_equal(batch.data[0].asnumpy()[2], chw(rgbs[2]))
    it = mx.image.ImageIter(2, (3, 6, 7), imglist=[[1.0, "im0.png"], [5.0, "im1.png"]],
                            path_root=str(tmp_path))
    np.testing.assert_array_equal(next(it).label[0].asnumpy(), [1, 5])
    (tmp_path / "bad.lst").write_text("0\tim0.png\n")
    with pytest.raises(MXNetError, match="bad.lst line 1"):
        mx.image.ImageIter(1, (3, 6, 7), path_imglist=str(tmp_path / "bad.lst"))
    (tmp_path / "im1.png").write_bytes(b"broken")
    it = mx.image.ImageIter(2, (3, 6, 7), path_imglist=str(tmp_path / "train.lst"),
                            path_root=str(tmp_path))
    with pytest.raises(MXNetError, match="broken image.*im1.png"):
        next(it)


# --------------------------------------------------------------------------- ImageRecordIter


def write_images_rec(tmp_path, count, shape=(8, 10), labels=None, name="r"):
    rec = str(tmp_path / (name + ".rec"))
    writer = mx.recordio.MXRecordIO(rec, "w")
    images = []
    for i in range(count):
        rgb = np.random.RandomState(100 + i).randint(0, 256, shape + (3,)).astype(np.uint8)
        images.append(rgb)
        label = float(i) if labels is None else labels[i]
        writer.write(mx.recordio.pack_img((0, label, 1000 + i, 0), rgb[:, :, ::-1],
                                          img_fmt=".png"))
    writer.close()
    return rec, images


def test_image_record_iter_normalises_crops_and_rounds_batches(tmp_path):
    rec, images = write_images_rec(tmp_path, 5)
    mean, std, scale = np.array([120.0, 110.0, 100.0]), np.array([50.0, 60.0, 70.0]), 0.5
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 6, 8), batch_size=2,
                               mean_r=mean[0], mean_g=mean[1], mean_b=mean[2], std_r=std[0],
                               std_g=std[1], std_b=std[2], scale=scale, preprocess_threads=2)
    assert it.provide_data[0].shape == (2, 3, 6, 8) and it.provide_label[0].shape == (2,)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 1]
    order = [0, 1, 2, 3, 4, 0]
    np.testing.assert_array_equal(np.concatenate([b.label[0].asnumpy() for b in batches]),
                                  order)
    assert list(batches[2].index) == [1004, 1000]
    data = np.concatenate([b.data[0].asnumpy() for b in batches])
    for row, k in enumerate(order):
        crop = images[k][1:7, 1:9].transpose(2, 0, 1).astype(np.float64)  # centred crop
        expect = (crop - mean[:, None, None]) / std[:, None, None] * scale
        np.testing.assert_allclose(data[row], expect, rtol=1e-5, atol=1e-5)
    it.reset()  # as MXNet's BatchLoader: the next epoch starts after the wrapped record
    assert [list(b.label[0].asnumpy()) for b in it] == [[1, 2], [3, 4]]
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=2,
                               round_batch=False, dtype="uint8")
    last = list(it)[-1]
    assert last.pad == 1 and last.data[0].dtype == np.uint8
    np.testing.assert_array_equal(last.data[0].asnumpy()[0], images[4].transpose(2, 0, 1))


def test_image_record_iter_resize_random_crop_mirror_parts(tmp_path):
    rec, images = write_images_rec(tmp_path, 6)
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 6, 6), batch_size=3, resize=6)
    resized = mx.image.imresize(images[0], 7, 6, interp=1).asnumpy()  # short side 8 -> 6
    np.testing.assert_allclose(next(it).data[0].asnumpy()[0],
                               resized[:, 0:6].transpose(2, 0, 1))

    def run(threads):
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 5, 7), batch_size=3,
                                   rand_crop=True, rand_mirror=True, seed=11, shuffle=True,
                                   preprocess_threads=threads)
        return [(b.data[0].asnumpy(), b.label[0].asnumpy()) for b in it]

    one, four = run(1), run(4)
    flips = 0
    for (data, labels), (data4, labels4) in zip(one, four):
        np.testing.assert_array_equal(data, data4)
        np.testing.assert_array_equal(labels, labels4)
        for out, label in zip(data, labels):
            img = images[int(label)].transpose(2, 0, 1).astype(np.float32)
            found = [(y, x, f) for y in range(4) for x in range(4) for f in (0, 1)
                     if np.array_equal(out, (img[:, y:y + 5, x:x + 7] if not f
                                             else img[:, y:y + 5, x:x + 7][:, :, ::-1]))]
            assert found, label
            flips += found[0][2]
    assert sorted(np.concatenate([lab for _, lab in one])) == list(range(6))
    assert 0 < flips < 6
    def crops(**seeds):
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 5, 7), batch_size=6,
                                   rand_crop=True, **seeds)
        return next(it).data[0].asnumpy()
    np.testing.assert_array_equal(crops(seed=1, seed_aug=3), crops(seed=2, seed_aug=3))
    assert not np.array_equal(crops(seed_aug=3), crops(seed_aug=4))
    part = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=3,
                                 part_index=1, num_parts=2)
    np.testing.assert_array_equal(next(part).label[0].asnumpy(), [3, 4, 5])


def test_image_record_iter_vector_labels_errors_and_fit(tmp_path):
    rec, _ = write_images_rec(tmp_path, 4, labels=[[i % 3, 7] for i in range(4)], name="v")
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=4,
                               label_width=2)
    np.testing.assert_array_equal(next(it).label[0].asnumpy(),
                                  [[0, 7], [1, 7], [2, 7], [0, 7]])
    lst = tmp_path / "v.lst"
    lst.write_text("".join("%d\t%d\t%d\tx.png\n" % (1000 + i, 5 * i, 1) for i in range(3)))
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=3,
                               label_width=2, path_imglist=str(lst))
    np.testing.assert_array_equal(next(it).label[0].asnumpy(), [[0, 1], [5, 1], [10, 1]])
    with pytest.raises(MXNetError, match="id 1003, which the image list lacks"):
        next(it)
    # smaller than data_shape: enlarged to cover it (8 x 10 to 9 x 11), then centre-cropped
    small = next(mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 9, 10), batch_size=2,
                                       dtype="uint8")).data[0].asnumpy()
    first = mx.recordio.unpack_img(mx.recordio.MXRecordIO(rec, "r").read())[1][:, :, ::-1]
    grown = mx.image.imresize(first, 11, 9, interp=1).asnumpy()
    np.testing.assert_array_equal(small[0], grown[:, 0:10].transpose(2, 0, 1))
    with pytest.raises(MXNetError, match="has 2 labels, label_width is 3"):
        next(mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=2,
                                   label_width=3))
    data = open(rec, "rb").read()
    (tmp_path / "cut.rec").write_bytes(data[:len(data) - 10])
    with pytest.raises(MXNetError, match="cut.rec at offset"):
        mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "cut.rec"), data_shape=(3, 8, 10),
                              batch_size=2)
    with pytest.raises(MXNetError, match=r"unsupported parameters \['shuffle_chunk_size'\]"):
        mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 10), batch_size=2,
                              shuffle_chunk_size=64)
    # Module.fit takes it
    rec, _ = write_images_rec(tmp_path, 8, shape=(4, 4), labels=[i % 2 for i in range(8)])
    train = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 4, 4), batch_size=4,
                                  scale=1.0 / 255)
    net = mx.sym.FullyConnected(mx.sym.Flatten(mx.sym.Variable("data")), num_hidden=2)
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(net, name="softmax"), context=mx.cpu())
    mod.fit(train, num_epoch=2, optimizer_params={"learning_rate": 0.1})
    assert mod.predict(train).shape == (8, 2)


# --------------------------------------------------------------------------- im2rec


def test_im2rec_list_and_pack(tmp_path):
    from mxc import im2rec
    root = tmp_path / "images"
    originals = {}
    for label, folder in enumerate(["cats", "dogs"]):
        (root / folder).mkdir(parents=True)
        for i in range(2):
            rgb = smooth_image(6 + i, 9, seed=10 * label + i)
            rel = "%s/%d.png" % (folder, i)
            (root / rel).write_bytes(encode(rgb, "PNG"))
            originals[rel] = (rgb, label)
    (root / "notes.txt").write_text("not an image")
    prefix = str(tmp_path / "train")
    assert im2rec.main(["--list", "--recursive", "--no-shuffle", prefix, str(root)]) == 0
    lines = open(prefix + ".lst").read().splitlines()
    assert lines == ["%d\t%f\t%s" % (i, originals[rel][1], rel)
                     for i, rel in enumerate(sorted(originals))]
    assert im2rec.main([prefix, str(root), "--encoding", ".png"]) == 0
    reader = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    for i, rel in enumerate(sorted(originals)):
        header, bgr = mx.recordio.unpack_img(reader.read_idx(i))
        assert header.id == i and header.label == originals[rel][1]
        np.testing.assert_array_equal(bgr[:, :, ::-1], originals[rel][0])
    reader.close()
    # pass-through keeps the files' bytes; resize + centre crop gives squares of the size
    assert im2rec.main([prefix + ".lst", str(root), "--pass-through"]) == 0
    record = mx.recordio.MXRecordIO(prefix + ".rec", "r").read()
    assert mx.recordio.unpack(record)[1] == (root / "cats/0.png").read_bytes()
    assert im2rec.main([prefix, str(root), "--center-crop", "--resize", "4",
                        "--num-thread", "2"]) == 0
    it = mx.image.ImageIter(4, (3, 4, 4), path_imgrec=prefix + ".rec")
    batch = next(it)
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [0, 0, 1, 1])
    (tmp_path / "bad.lst").write_text("0\t1.0\tmissing.png\n")
    assert im2rec.main([str(tmp_path / "bad.lst"), str(root)]) == 1
    assert im2rec.main([str(tmp_path / "none"), str(root)]) == 1


def test_image_iter_roll_over_and_list_labels_over_rec(tmp_path):
    rec, idx, _ = write_rec(tmp_path, 5, [float(i) for i in range(5)])
    it = mx.image.ImageIter(2, (3, 6, 7), path_imgrec=rec, last_batch_handle="roll_over")
    labels = [list(b.label[0].asnumpy()) for b in it]
    assert labels == [[0, 1], [2, 3]]  # record 4 waits for the next epoch
    it.reset()
    first = next(it)
    assert list(first.label[0].asnumpy()) == [4, 0]
    assert [list(b.label[0].asnumpy()) for b in it] == [[1, 2], [3, 4]]
    # a list file's labels replace the records' own (keys are the index column)
    lst = tmp_path / "relabel.lst"
    lst.write_text("".join("%d\t%d\tunused\n" % (i, 10 * i) for i in range(5)))
    it = mx.image.ImageIter(5, (3, 6, 7), path_imgrec=rec, path_imgidx=idx,
                            path_imglist=str(lst))
    np.testing.assert_array_equal(next(it).label[0].asnumpy(), [0, 10, 20, 30, 40])


def test_raw_pixel_records(tmp_path):
    """img_fmt '.raw' / im2rec --encoding .raw: uncompressed pixels after a RAW8 header; read
    back exactly by unpack_img, imdecode and ImageRecordIter; bad headers are clear errors."""
    import struct
    from mxc import im2rec
    rgb = smooth_image(7, 9, seed=4)
    record = mx.recordio.pack_img((0, 2.0, 5, 0), rgb[:, :, ::-1], img_fmt=".raw")
    header, payload = mx.recordio.unpack(record)
    assert payload == b"RAW8" + struct.pack("<III", 7, 9, 3) + rgb.tobytes()
    np.testing.assert_array_equal(mx.recordio.unpack_img(record)[1], rgb[:, :, ::-1])
    np.testing.assert_array_equal(mx.image.imdecode(payload).asnumpy(), rgb)
    grey = mx.image.imdecode(payload, flag=0).asnumpy()[:, :, 0].astype(np.int64)
    weights = np.array([4899, 9617, 1868])  # OpenCV's RGB-to-grey in 1/2^14, rounded
    np.testing.assert_array_equal(grey, (rgb.astype(np.int64) @ weights + 8192) >> 14)
    one = mx.recordio.pack_img((0, 0.0, 0, 0), rgb[:, :, 1], img_fmt=".raw")
    np.testing.assert_array_equal(mx.recordio.unpack_img(one)[1], rgb[:, :, 1])
    np.testing.assert_array_equal(mx.recordio.unpack_img(one, 1)[1],
                                  np.repeat(rgb[:, :, 1:2], 3, axis=2))
    for bad, want in ((payload[:10], "needs a 16-byte header"),
                      (payload[:-1], "raw-pixel header says 7 x 9 x 3, with 188 pixel bytes"),
                      (b"RAW8" + struct.pack("<III", 7, 9, 2) + bytes(126), "7 x 9 x 2")):
        with pytest.raises(MXNetError, match=want):
            mx.image.imdecode(bad)
    # im2rec packs raw pixels; ImageRecordIter reads the same batches as from PNG records
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        (root / "a" / ("%d.png" % i)).write_bytes(encode(smooth_image(8, 10, seed=i), "PNG"))
    prefix = str(tmp_path / "px")
    assert im2rec.main(["--list", "--recursive", "--no-shuffle", prefix, str(root)]) == 0
    batches = {}
    for enc in (".png", ".raw"):
        assert im2rec.main([prefix, str(root), "--encoding", enc]) == 0
        it = mx.io.ImageRecordIter(path_imgrec=prefix + ".rec", data_shape=(3, 6, 8),
                                   batch_size=3, mean_r=10.0, scale=0.5)
        batches[enc] = next(it).data[0].asnumpy()
    np.testing.assert_array_equal(batches[".raw"], batches[".png"])
