"""Re-record MXNet 1.9.1's ImageRecordIter batches for test_image_mxnet.py (never run by the
tests; needs real MXNet and, for pack_img, OpenCV's Python module).

    VENV/bin/pip install mxnet==1.9.1 numpy==1.23.5 opencv-python-headless
    python tests/runtime/mxnet_recorded/record_image_data.py --write-mxc-rec   # mxc's Python
    VENV/bin/python tests/runtime/mxnet_recorded/record_image_data.py [SETTING...]  # MXNet's

The first command writes image_data/mxc_written.rec (+ .idx) with mxc's pack_img; the second
(given no setting names) writes image_data/mxnet_*.rec with MXNet's pack_img and records, for
every setting in
SETTINGS, each batch MXNet's ImageRecordIter gives (data, label, pad, index) in
image_data/<setting>.npz, the mean image MXNet computes for `mean_img` (<setting>_mean.nd),
MXNet's imdecode of each record (decoded.npz), its imresize of the RESIZES cases
(resized.npz), its Python ImageIter's batches (image_iter.npz) and a JSON summary.
"""
import json
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "image_data"

# (height, width, format, grey) of the test images: JPEG and PNG, several sizes, one grey
IMAGES = [(40, 48, ".jpg", False), (36, 36, ".png", False), (50, 40, ".jpg", False),
          (32, 44, ".png", True), (48, 40, ".png", False), (40, 40, ".jpg", False),
          (44, 52, ".jpg", False)]


def pattern(index, h, w, grey):
    """A deterministic uint8 image in OpenCV's BGR layout: gradients, waves, a square."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = 0.7 * index
    chans = [128 + 90 * np.sin(x / (3.0 + index) + phase) * np.cos(y / 5.0),
             30 + 190 * (x + 2 * y) / (w + 2 * h),
             220 - 150 * y / h + 25 * np.sin((x - y) / 4.0)]
    img = np.clip(np.stack(chans, axis=2), 0, 255)
    img[h // 4:h // 2, w // 3:w // 3 + 6] = (20 + 30 * index, 240, 60)
    img = np.rint(img).astype(np.uint8)
    if grey:
        return np.rint(img.astype(np.float64) @ [0.114, 0.587, 0.299]).astype(np.uint8)
    return img


def labels(index, width):
    return float(index % 3) if width == 1 else [float(index), index % 3 + 0.5, -index][:width]


# name -> (record file, ImageRecordIter keywords, epochs)
SETTINGS = {
    "center": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=3, resize=28,
                                    round_batch=False), 1),
    "center_idx": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=3, resize=28,
                                        round_batch=False, path_imgidx=True), 1),
    "norm_round": ("mxnet_scalar", dict(data_shape=(3, 20, 20), batch_size=3, resize=26,
                                        mean_r=123.5, mean_g=116.25, mean_b=103.5,
                                        std_r=58.5, std_g=57.0, std_b=57.5, scale=0.5,
                                        round_batch=True), 3),
    "nores": ("mxnet_scalar", dict(data_shape=(3, 30, 30), batch_size=4,
                                   round_batch=True), 2),
    "grey": ("mxnet_scalar", dict(data_shape=(1, 22, 22), batch_size=4, resize=24,
                                  mean_r=100.0, std_r=50.0, round_batch=False), 1),
    "uint8": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=4, resize=24,
                                   dtype="uint8", round_batch=False), 1),
    "cubic": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=30,
                                   inter_method=2), 1),
    "area": ("mxnet_scalar", dict(data_shape=(3, 16, 16), batch_size=7, resize=18,
                                  inter_method=3), 1),
    "vector": ("mxnet_vector", dict(data_shape=(3, 24, 24), batch_size=2, resize=26,
                                    label_width=3, round_batch=False), 1),
    "rotate": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=28,
                                    rotate=30, fill_value=0), 1),
    "scale_aspect": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=32,
                                          min_random_scale=0.85, max_random_scale=0.85,
                                          min_aspect_ratio=1.25, max_aspect_ratio=1.25,
                                          fill_value=7), 1),
    "pad": ("mxnet_scalar", dict(data_shape=(3, 32, 32), batch_size=7, resize=28, pad=2,
                                 fill_value=40), 1),
    "rotate_pad": ("mxnet_scalar", dict(data_shape=(3, 28, 28), batch_size=7, resize=26,
                                        rotate=75, pad=1, fill_value=200, mean_r=10.0,
                                        std_g=2.0), 1),
    "max_img_size": ("mxnet_scalar", dict(data_shape=(3, 20, 20), batch_size=7, resize=24,
                                          max_img_size=26, min_img_size=22), 1),
    "rrc_fallback_wide": ("mxnet_scalar", dict(data_shape=(3, 16, 24), batch_size=7,
                                               random_resized_crop=True, min_random_area=1.0,
                                               max_random_area=1.0, min_aspect_ratio=3.0,
                                               max_aspect_ratio=3.0), 1),
    "rrc_fallback_tall": ("mxnet_scalar", dict(data_shape=(3, 20, 20), batch_size=7,
                                               random_resized_crop=True, min_random_area=1.0,
                                               max_random_area=1.0, min_aspect_ratio=0.3,
                                               max_aspect_ratio=0.3), 1),
    "small_center": ("mxnet_scalar", dict(data_shape=(3, 40, 60), batch_size=7), 1),
    "rrc_fallback_small": ("mxnet_scalar", dict(data_shape=(3, 40, 60), batch_size=7,
                                                random_resized_crop=True, min_random_area=1.0,
                                                max_random_area=1.0, min_aspect_ratio=3.0,
                                                max_aspect_ratio=3.0), 1),
    # random colour jitter: MXNet's draws differ from mxc's; the tests check that each of
    # MXNet's outputs is the documented transform of its input for some factor
    "jitter_brightness": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                               brightness=0.3, dtype="uint8"), 1),
    "jitter_contrast": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                             contrast=0.4, dtype="uint8"), 1),
    "jitter_saturation": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                               saturation=0.5, dtype="uint8"), 1),
    "jitter_pca": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                        pca_noise=0.5, dtype="uint8"), 1),
    "jitter_l": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                      random_l=40, dtype="uint8"), 1),
    "jitter_normalize": ("mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=7, resize=24,
                                              max_random_contrast=0.3,
                                              max_random_illumination=20.0, mean_r=100.0,
                                              mean_g=90.0, mean_b=80.0, std_r=2.0, std_g=4.0,
                                              std_b=5.0, scale=0.5), 1),
    "mean_img": ("mxnet_scalar", dict(data_shape=(3, 20, 20), batch_size=7, resize=22,
                                      mean_img=True, scale=0.25), 1),
    "mean_img_std": ("mxnet_scalar", dict(data_shape=(3, 20, 20), batch_size=7, resize=22,
                                          mean_img=True, std_r=2.0, std_g=4.0, mean_b=9.0,
                                          scale=0.5), 1),
    "mxc_written": ("mxc_written", dict(data_shape=(3, 24, 24), batch_size=4, resize=28,
                                        round_batch=False), 1),
    "mxc_written_grey": ("mxc_written", dict(data_shape=(1, 24, 24), batch_size=7,
                                             resize=28), 1),
}
for _parts in (2, 3):
    for _index in range(_parts):
        for _idx in (False, True):
            SETTINGS["shard%d_%d%s" % (_parts, _index, "_idx" if _idx else "")] = (
                "mxnet_scalar", dict(data_shape=(3, 24, 24), batch_size=2, resize=26,
                                     num_parts=_parts, part_index=_index, round_batch=False,
                                     path_imgidx=_idx), 1)


def write_mxc_rec():
    """mxc's side: the same images, packed by mxc (Pillow's encoders)."""
    import mxc as mx
    OUT.mkdir(exist_ok=True)
    rec = mx.recordio.MXIndexedRecordIO(str(OUT / "mxc_written.idx"),
                                        str(OUT / "mxc_written.rec"), "w")
    for i, (h, w, fmt, grey) in enumerate(IMAGES):
        header = mx.recordio.IRHeader(0, labels(i, 1), 100 + i, 0)
        rec.write_idx(i, mx.recordio.pack_img(header, pattern(i, h, w, grey), quality=90,
                                              img_fmt=fmt))
    rec.close()


def write_mxnet_recs(mx):
    for name, width in (("mxnet_scalar", 1), ("mxnet_vector", 3)):
        rec = mx.recordio.MXIndexedRecordIO(str(OUT / (name + ".idx")),
                                            str(OUT / (name + ".rec")), "w")
        for i, (h, w, fmt, grey) in enumerate(IMAGES):
            header = mx.recordio.IRHeader(0, labels(i, width), 10 + i, 0)
            rec.write_idx(i, mx.recordio.pack_img(header, pattern(i, h, w, grey), quality=90,
                                                  img_fmt=fmt))
        rec.close()


def record(mx, name, rec_name, kwargs, epochs):
    kwargs = dict(kwargs)
    kwargs["path_imgrec"] = str(OUT / (rec_name + ".rec"))
    if kwargs.pop("path_imgidx", False):
        kwargs["path_imgidx"] = str(OUT / (rec_name + ".idx"))
    if kwargs.get("mean_img"):
        kwargs["mean_img"] = str(OUT / ("%s_mean.nd" % name))
        if os.path.exists(kwargs["mean_img"]):
            os.remove(kwargs["mean_img"])
    it = mx.io.ImageRecordIter(preprocess_threads=1, **kwargs)
    out = {}
    count = 0
    for epoch in range(epochs):
        if epoch:  # a fresh iterator starts at its first record
            it.reset()
        for batch in it:
            out["data%d" % count] = batch.data[0].asnumpy()
            out["label%d" % count] = batch.label[0].asnumpy()
            out["pad%d" % count] = np.array(batch.pad)
            out["index%d" % count] = np.asarray(batch.index, dtype=np.int64)
            out["epoch%d" % count] = np.array(epoch)
            count += 1
    np.savez_compressed(OUT / ("%s.npz" % name), **out)
    return count


def record_decodes(mx):
    """MXNet's imdecode (OpenCV) of every record of mxnet_scalar.rec, colour and grey."""
    reader = mx.recordio.MXRecordIO(str(OUT / "mxnet_scalar.rec"), "r")
    out = {}
    for i in range(len(IMAGES)):
        _, payload = mx.recordio.unpack(reader.read())
        out["color%d" % i] = mx.image.imdecode(payload, flag=1).asnumpy()
        out["grey%d" % i] = mx.image.imdecode(payload, flag=0).asnumpy()
    np.savez_compressed(OUT / "decoded.npz", **out)


# (width, height) of mx.image.imresize cases over pattern(2, 24, 20): halving, doubling,
# identity, shrinking and enlarging along one axis each
RESIZES = [(10, 12), (40, 48), (20, 24), (9, 11), (30, 15), (10, 40), (33, 7), (5, 5)]


def record_resizes(mx):
    """MXNet's imresize (cv::resize on uint8 RGB) of each case, interpolations 0..4."""
    img = pattern(2, 24, 20, False)[:, :, ::-1].copy()
    out = {}
    for k, (w, h) in enumerate(RESIZES):
        for interp in range(5):
            out["%d_%d" % (k, interp)] = mx.image.imresize(mx.nd.array(img, dtype="uint8"), w, h,
                                                           interp=interp).asnumpy()
    np.savez_compressed(OUT / "resized.npz", **out)


IMAGE_ITER_MEAN, IMAGE_ITER_STD = [123.0, 117.0, 104.0], [58.0, 57.0, 57.5]


def record_image_iter(mx):
    """MXNet's Python mx.image.ImageIter over mxnet_scalar.rec: CreateAugmenter's resize
    (bicubic shorter side) + centre crop + mean/std, and a bilinear ForceResizeAug."""
    common = dict(batch_size=7, data_shape=(3, 24, 24), path_imgrec=str(OUT / "mxnet_scalar.rec"),
                  path_imgidx=str(OUT / "mxnet_scalar.idx"))
    out = {}
    batch = next(mx.image.ImageIter(resize=28, mean=np.array(IMAGE_ITER_MEAN),
                                    std=np.array(IMAGE_ITER_STD), **common))
    out["data"], out["label"] = batch.data[0].asnumpy(), batch.label[0].asnumpy()
    batch = next(mx.image.ImageIter(aug_list=[mx.image.ForceResizeAug((24, 24), interp=1)],
                                    **common))
    out["force"] = batch.data[0].asnumpy()
    np.savez_compressed(OUT / "image_iter.npz", **out)


def main():
    if "--write-mxc-rec" in sys.argv:
        write_mxc_rec()
        return
    import mxnet as mx
    assert mx.__version__ == "1.9.1", mx.__version__
    OUT.mkdir(exist_ok=True)
    only = [name for name in sys.argv[1:] if not name.startswith("-")]
    if not only:  # everything, from new .rec files
        write_mxnet_recs(mx)
        record_decodes(mx)
    if not only or "resized" in only:
        record_resizes(mx)
    if not only or "image_iter" in only:
        record_image_iter(mx)
    summary = {}
    if (OUT / "batches.json").exists():
        summary = json.loads((OUT / "batches.json").read_text())
    for name, (rec_name, kwargs, epochs) in sorted(SETTINGS.items()):
        if not only or name in only:
            summary[name] = record(mx, name, rec_name, kwargs, epochs)
    (OUT / "batches.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
