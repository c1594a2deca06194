"""ImageRecordIter's augmentation parameters (MXNet's default augmenter) against NumPy
references of the geometry: affine warps (rotation, shear, scale, aspect) by float64 inverse
mapping, pad, random resized crops and square crops by search over the windows they may
take, mirror; parameter errors; prefetching keeps runs reproducible."""
import numpy as np
import pytest

import mxc as mx
from mxc import image as mximage
from mxc.base import MXNetError

pytest.importorskip("PIL.Image", reason="mx.image needs Pillow (pip install 'mxc[image]')")


def smooth(h, w, seed=0):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [128 + 80 * np.sin(x / 4.0 + rng.rand()) * np.cos(y / 6.0),
             40 + 170 * (x + y) / (w + h), 200 - 120 * y / h + 20 * np.sin(x / 3.0)]
    return np.clip(np.rint(np.stack(chans, axis=2)), 0, 255).astype(np.uint8)


def write_rec(path, images):
    writer = mx.recordio.MXRecordIO(str(path), "w")
    for i, img in enumerate(images):
        writer.write(mx.recordio.pack_img((0, float(i), i, 0), img[:, :, ::-1], img_fmt=".png"))
    writer.close()
    return str(path)


def affine_reference(img, angle, shear, scale, ratio, fill, out_w=None, out_h=None):
    """The default augmenter's affine step in float64: the destination's pixel (x, y) samples
    the source bilinearly at M^-1 (x, y), M = [[hs a - s b ws, hs b + s a ws],
    [-b ws, a ws]] (a, b = cos, sin of the angle, hs = 2 scale / (1 + ratio), ws = ratio hs)
    with the centre mapped to the output's centre; taps outside read `fill`."""
    h, w = img.shape[:2]
    a, b = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    hs = 2 * scale / (1 + ratio)
    ws = ratio * hs
    lin = np.array([[hs * a - shear * b * ws, hs * b + shear * a * ws], [-b * ws, a * ws]])
    # the centre goes to the centre of the (unrounded) scale * size output
    shift = (np.array([scale * w, scale * h]) - lin @ np.array([w, h])) / 2
    out_w = int(scale * w) if out_w is None else out_w
    out_h = int(scale * h) if out_h is None else out_h
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    src = np.linalg.solve(lin, np.stack([xs.ravel() - shift[0], ys.ravel() - shift[1]]))
    sx, sy = src[0].reshape(out_h, out_w), src[1].reshape(out_h, out_w)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = (sx - x0)[:, :, None], (sy - y0)[:, :, None]

    def tap(yy, xx):
        inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w))[:, :, None]
        return np.where(inside, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], fill)
    return ((1 - fx) * (1 - fy) * tap(y0, x0) + fx * (1 - fy) * tap(y0, x0 + 1)
            + (1 - fx) * fy * tap(y0 + 1, x0) + fx * fy * tap(y0 + 1, x0 + 1))


class FixedDraws:
    """Uniform draws handed to the augmenter in order (shear, angle, scale, ratio, ...)."""

    def __init__(self, values):
        self.values = list(values)

    def uniform(self, low=0.0, high=1.0):
        return low + (high - low) * self.values.pop(0)

    def randint(self, low, high):
        return min(high, low + int(self.uniform() * (high - low + 1)))


@pytest.mark.parametrize("angle,shear,scale,ratio", [(30, 0.0, 1.0, 1.0), (-17, 0.2, 1.0, 1.0),
                                                     (0, 0.0, 0.7, 1.0), (8, 0.0, 1.2, 1.3),
                                                     (90, -0.1, 0.9, 0.8)])
def test_warp_matches_float_reference(angle, shear, scale, ratio):
    img = smooth(30, 38, seed=angle & 7)
    aug = mximage._DefaultAugmenter(10, 10, dict(max_shear_ratio=0.5, max_rotate_angle=90,
                                                 min_random_scale=0.5, max_random_scale=1.5,
                                                 min_aspect_ratio=0.5, max_aspect_ratio=1.5,
                                                 fill_value=33))
    draws = [(shear / 0.5 + 1) / 2, (angle + 90 + 0.5) / 181.0, (scale - 0.5) / 1.0,
             (ratio - 0.5) / 1.0]
    mat, new_w, new_h = mximage._affine_matrix(38, 30, angle, shear, scale, ratio, 0, 1e10)
    got = mximage._warp_affine_u8(img, mat, new_w, new_h, 33)
    # the same through the augmenter's draws (no resize, no crop: data_shape is the output)
    aug.out_h, aug.out_w = new_h, new_w
    np.testing.assert_array_equal(aug(img, FixedDraws(draws), "test"), got)
    ref = affine_reference(img.astype(np.float64), angle, shear, scale, ratio, 33,
                           new_w, new_h)
    err = np.abs(got.astype(np.float64) - ref)
    # OpenCV samples at 1/32 pixel: within 1 level on smooth parts, a few at the border
    assert np.mean(err <= 1.0) > 0.97, np.mean(err <= 1.0)
    assert err.max() <= 12 and err.mean() < 0.5


def test_random_rotation_draws_integer_angles_in_range(tmp_path):
    images = [smooth(28, 28, seed=i) for i in range(6)]
    rec = write_rec(tmp_path / "r.rec", images)
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 20, 20), batch_size=6,
                               max_rotate_angle=25, fill_value=0, seed_aug=5)
    out = next(it).data[0].asnumpy()
    angles = []
    for img, got in zip(images, out):
        errs = []
        for angle in range(-25, 26):
            ref = affine_reference(img.astype(np.float64), angle, 0.0, 1.0, 1.0, 0)[4:24, 4:24]
            errs.append(np.abs(ref.transpose(2, 0, 1) - got).mean())
        angles.append(int(np.argmin(errs)) - 25)
        assert min(errs) < 0.5
    assert len(set(angles)) > 2, angles


def test_random_scale_and_aspect_sizes():
    img = smooth(40, 50)
    aug = mximage._DefaultAugmenter(8, 8, dict(min_random_scale=0.5, max_random_scale=1.0,
                                               max_aspect_ratio=0.25))
    for scale_u, ratio_u in [(0.0, 0.5), (1.0, 0.0), (0.5, 1.0)]:
        aug.out_h = aug.out_w = None
        draws = FixedDraws([0.5, 0.5, scale_u, ratio_u])
        scale = 0.5 + 0.5 * scale_u
        ratio = 0.75 + 0.5 * ratio_u
        mat, new_w, new_h = mximage._affine_matrix(50, 40, 0, 0.0, scale, ratio, 0, 1e10)
        assert (new_w, new_h) == (int(np.float32(scale) * 50), int(np.float32(scale) * 40))
        aug.out_h, aug.out_w = new_h, new_w
        got = aug(img, draws, "test").astype(np.float64)
        ref = affine_reference(img.astype(np.float64), 0, 0.0, scale, ratio, 255, new_w, new_h)
        assert np.mean(np.abs(got - ref) <= 1.0) > 0.97
    # image size bounds clamp the output
    mat, new_w, new_h = mximage._affine_matrix(50, 40, 0, 0.0, 1.0, 1.0, 44, 46)
    assert (new_w, new_h) == (46, 44)


def test_pad_fill_mirror_and_centre_crop(tmp_path):
    images = [smooth(12, 16, seed=i) for i in range(3)]
    rec = write_rec(tmp_path / "p.rec", images)
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 18, 22), batch_size=3, pad=3,
                               fill_value=17, dtype="uint8")
    out = next(it).data[0].asnumpy()
    for img, got in zip(images, out):
        want = np.full((18, 22, 3), 17, np.uint8)
        want[3:15, 3:19] = img
        np.testing.assert_array_equal(got, want.transpose(2, 0, 1))
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 10, 10), batch_size=3,
                               mirror=True, dtype="uint8")
    out = next(it).data[0].asnumpy()
    for img, got in zip(images, out):
        np.testing.assert_array_equal(got, img[1:11, 3:13][:, ::-1].transpose(2, 0, 1))


def windows_of(img, out_h, out_w, sizes):
    """Every (h, w) window of `img` for (h, w) in `sizes`, resized to out_h x out_w."""
    h, w = img.shape[:2]
    for ch, cw in sizes:
        for y in range(h - ch + 1):
            for x in range(w - cw + 1):
                yield (ch, cw), mximage._resize(img[y:y + ch, x:x + cw], out_w, out_h, 1)


def test_random_resized_crop_and_crop_size(tmp_path):
    images = [smooth(16, 20, seed=i) for i in range(4)]
    rec = write_rec(tmp_path / "c.rec", images)
    # area a quarter, aspect 1: an 9 x 9 window (round(sqrt(80)) = 9), resized to 8 x 8
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=4,
                               random_resized_crop=True, min_random_area=0.25,
                               max_random_area=0.25, min_aspect_ratio=1.0,
                               max_aspect_ratio=1.0, dtype="uint8", seed_aug=3)
    for img, got in zip(images, next(it).data[0].asnumpy()):
        found = [size for size, win in windows_of(img, 8, 8, [(9, 9)])
                 if np.array_equal(win, got.transpose(1, 2, 0))]
        assert found
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 6, 6), batch_size=4,
                               rand_crop=True, min_crop_size=8, max_crop_size=12,
                               dtype="uint8", seed_aug=1)
    sides = set()
    for img, got in zip(images, next(it).data[0].asnumpy()):
        found = [size for size, win in windows_of(img, 6, 6, [(s, s) for s in range(8, 13)])
                 if np.array_equal(win, got.transpose(1, 2, 0))]
        assert found
        sides.add(found[0][0])
    assert len(sides) > 1


def test_parameter_errors_name_the_parameter(tmp_path):
    rec = write_rec(tmp_path / "e.rec", [smooth(12, 12)])
    base = dict(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=1)
    cases = [(dict(inter_method=7), "inter_method must be 0-4, 9 or 10"),
             (dict(min_random_scale=1.2, max_random_scale=1.1), "min_random_scale"),
             (dict(min_aspect_ratio=2.0, max_aspect_ratio=1.0), "min_aspect_ratio"),
             (dict(max_aspect_ratio=1.5), "max_aspect_ratio is in"),
             (dict(random_resized_crop=True, rand_crop=True), "random_resized_crop excludes"),
             (dict(fill_value=300), "fill_value must be in 0..255"),
             (dict(pad=-1), "pad must not be negative"),
             (dict(min_crop_size=4), "min_crop_size and max_crop_size"),
             (dict(rotate=10, inter_method=2), "built for inter_method 1 .* got inter_method 2"),
             (dict(mean_img=str(tmp_path / "m.nd"), dtype="uint8"), "mean_img"),
             (dict(brightness=-0.1), "brightness, contrast, saturation, pca_noise"),
             (dict(aug_seq="aug_default,det_aug_default"), "only MXNet's 'aug_default'"),
             (dict(max_random_contrast=-0.2), "max_random_contrast and "
                                               "max_random_illumination are >= 0"),
             (dict(max_random_illumination=5.0, dtype="uint8"), "need dtype float32"),
             (dict(shuffle_chunk_size=64, shuffle_chunk_seed=1),
              r"unsupported parameters \['shuffle_chunk_seed', 'shuffle_chunk_size'\]")]
    for extra, message in cases:
        with pytest.raises(MXNetError, match=message):
            mx.io.ImageRecordIter(**base, **extra)
    it = mx.io.ImageRecordIter(**base, min_crop_size=20, max_crop_size=20)
    with pytest.raises(MXNetError, match="e.rec record at offset 0: crop size 20 is larger"):
        next(it)


def test_prefetch_keeps_runs_reproducible(tmp_path):
    images = [smooth(14, 14, seed=i) for i in range(7)]
    rec = write_rec(tmp_path / "f.rec", images)

    def run(prefetch, threads):
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 10, 10), batch_size=3,
                                   rand_crop=True, rand_mirror=True, max_rotate_angle=10,
                                   shuffle=True, seed=4, prefetch_buffer=prefetch,
                                   preprocess_threads=threads)
        out = [next(it)]  # a reset in the middle of an epoch, while batches are prefetched
        it.reset()
        for _ in range(3):
            out.extend(it)
            it.reset()
        return [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in out]

    plain = run(0, 1)
    for prefetch, threads in ((1, 1), (4, 2)):
        other = run(prefetch, threads)
        assert len(other) == len(plain) == 1 + 3 + 2 + 2  # round_batch wraps into the next
        for (d1, l1, p1), (d2, l2, p2) in zip(plain, other):
            np.testing.assert_array_equal(d1, d2)
            np.testing.assert_array_equal(l1, l2)
            assert p1 == p2


def colorsys_hls_u8(rgb):
    """Independent reference: Python's colorsys, quantised as OpenCV's 8-bit HLS."""
    import colorsys
    out = np.zeros(rgb.shape, np.float64)
    for idx in np.ndindex(rgb.shape[:2]):
        h, l, s = colorsys.rgb_to_hls(*(rgb[idx] / 255.0))
        out[idx] = (np.rint(h * 180), np.rint(l * 255), np.rint(s * 255))  # 180 stays
    return out


def colorsys_rgb_u8(hls):
    import colorsys
    out = np.zeros(hls.shape, np.float64)
    for idx in np.ndindex(hls.shape[:2]):
        h, l, s = hls[idx]
        out[idx] = colorsys.hls_to_rgb(h / 180.0, l / 255.0, s / 255.0)
    return np.clip(np.rint(out * 255), 0, 255)


def test_hls_conversions_match_colorsys():
    rgb = np.random.RandomState(2).randint(0, 256, (16, 16, 3)).astype(np.uint8)
    rgb[0, :4] = [[0, 0, 0], [255, 255, 255], [90, 90, 90], [255, 0, 0]]   # greys, a primary
    hls = mximage._rgb_to_hls_u8(rgb)
    ref = colorsys_hls_u8(rgb)
    # OpenCV computes in float32: halves of L = (max + min) / 2 round by float32 noise
    assert np.abs(hls - ref).max() <= 1 and np.mean(hls == ref) > 0.9
    back = mximage._hls_to_rgb_u8(ref).astype(np.float64)
    assert np.abs(back - colorsys_rgb_u8(ref)).max() <= 1


def test_colour_jitter_against_numpy(tmp_path):
    images = [smooth(10, 12, seed=i) for i in range(5)]
    rec = write_rec(tmp_path / "j.rec", images)
    coef = np.array([0.114, 0.587, 0.299])  # MXNet's grey of its BGR image, as RGB weights

    def run(**kwargs):
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 10, 12), batch_size=5,
                                   dtype="uint8", seed_aug=9, **kwargs)
        return [b.transpose(1, 2, 0).astype(np.float64) for b in next(it).data[0].asnumpy()]

    def factor_fits(outs, model, low, high):
        """Each output is model(img, a) rounded for one a in [low, high] (found by a fine
        search), and the factors differ between images."""
        found = []
        for img, out in zip(images, outs):
            grid = np.linspace(low, high, 2001)
            errs = [np.abs(np.clip(np.rint(model(img.astype(np.float64), a)), 0, 255)
                           - out).max() for a in grid]
            assert min(errs) <= 1, min(errs)
            found.append(grid[int(np.argmin(errs))])
        assert np.ptp(found) > 0.01, found

    factor_fits(run(brightness=0.3), lambda x, a: x * a, 0.7, 1.3)
    factor_fits(run(contrast=0.4), lambda x, a: x * a + (x @ coef).mean() * (1 - a), 0.6, 1.4)
    factor_fits(run(saturation=0.5),
                lambda x, a: x * a + (x @ coef)[:, :, None] * (1 - a), 0.5, 1.5)
    # pca_noise adds one RGB offset an image, in the span of ImageNet's eigenvectors
    offsets = []
    for img, out in zip(images, run(pca_noise=0.5)):
        diff = out - img
        inside = (out > 0) & (out < 255)
        for c in range(3):
            assert np.ptp(diff[:, :, c][inside[:, :, c]]) <= 1
        offsets.append(np.median(diff.reshape(-1, 3), axis=0))
    assert np.abs(np.array(offsets)).max() > 1
    # random_l: one integer shift of the HLS lightness an image (the forward conversion is
    # checked against colorsys above; ties of its rounding move a hue by one step)
    shifts = []
    for img, out in zip(images, run(random_l=40)):
        hls = mximage._rgb_to_hls_u8(img)
        errs = {}
        for d in range(-40, 41):
            moved = hls.copy()
            moved[:, :, 1] = np.clip(moved[:, :, 1] + d, 0, 255)
            errs[d] = np.abs(colorsys_rgb_u8(moved) - out).max()
        best = min(errs, key=errs.get)
        assert errs[best] <= 1, errs[best]
        shifts.append(best)
    assert len(set(shifts)) > 1, shifts


def test_every_default_augmenter_keyword_at_once(tmp_path):
    """The keywords MXNet's image-classification example passes (their no-op defaults, then a
    strong augmentation): accepted, batches of the right shape and labels."""
    images = [smooth(36, 40, seed=i) for i in range(6)]
    rec = write_rec(tmp_path / "k.rec", images)
    common = dict(path_imgrec=rec, path_imgidx="", label_width=1, mean_r=123.68, mean_g=116.779,
                  mean_b=103.939, std_r=1.0, std_g=1.0, std_b=1.0, data_name="data",
                  label_name="softmax_label", data_shape=(3, 32, 32), batch_size=3,
                  preprocess_threads=2, shuffle=True, num_parts=1, part_index=0)
    noop = dict(rand_crop=0, max_random_scale=1.0, pad=0, fill_value=127,
                random_resized_crop=0, min_random_scale=1.0, max_aspect_ratio=0.0,
                min_aspect_ratio=None, max_random_area=1.0, min_random_area=1.0,
                min_crop_size=-1, max_crop_size=-1, brightness=0.0, contrast=0.0,
                saturation=0.0, pca_noise=0.0, random_h=0, random_s=0, random_l=0,
                max_rotate_angle=0, max_shear_ratio=0.0, rand_mirror=0)
    strong = dict(noop, rand_crop=1, max_random_scale=1.1, min_random_scale=0.9, pad=2,
                  max_aspect_ratio=0.25, brightness=0.4, contrast=0.4, saturation=0.4,
                  pca_noise=0.1, random_h=36, random_s=50, random_l=50, max_rotate_angle=10,
                  max_shear_ratio=0.1, rand_mirror=1)
    plain = mx.io.ImageRecordIter(**common, **noop, aug_seq="aug_default", ctx="cpu",
                                  device_id=0, prefetch_buffer=2)
    reference = mx.io.ImageRecordIter(**common)
    for a, b in zip(plain, reference):
        np.testing.assert_array_equal(a.data[0].asnumpy(), b.data[0].asnumpy())
        np.testing.assert_array_equal(a.label[0].asnumpy(), b.label[0].asnumpy())
    batches = list(mx.io.ImageRecordIter(**common, **strong))
    assert len(batches) == 2 and all(b.data[0].shape == (3, 3, 32, 32) for b in batches)
    assert sorted(np.concatenate([b.label[0].asnumpy() for b in batches])) == list(range(6))
    assert all(np.isfinite(b.data[0].asnumpy()).all() for b in batches)


def test_dropped_iterators_stop_their_threads(tmp_path):
    """A prefetching iterator left mid-epoch is collected and its producer thread ends."""
    import gc
    import threading
    import time
    rec = write_rec(tmp_path / "g.rec", [smooth(12, 12, seed=i) for i in range(9)])
    before = threading.active_count()
    for _ in range(5):
        it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=2,
                                   prefetch_buffer=1, preprocess_threads=2)
        next(it)
        del it
    gc.collect()
    deadline = time.time() + 10
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
