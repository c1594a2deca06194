"""Images as MXNet users have them: decode, resize, crop, augment, iterate (`mx.image`).

Decoding and encoding use Pillow (the optional extra ``mxc[image]``). Images are (H, W, C)
NDArrays, uint8 after decoding, in RGB order unless `to_rgb=False` asks for OpenCV's BGR.
`mx.recordio.pack_img` / `unpack_img` work on NumPy arrays in OpenCV's BGR layout, as MXNet's.

Resizing is NumPy, following OpenCV's definitions of MXNet's interpolation codes: 0 nearest
(source index floor(x * scale)), 1 bilinear and 2 bicubic (A = -0.75) on half-pixel centres
with replicated borders, 3 area (exact area averaging when shrinking; OpenCV's area-mode
bilinear taps when either axis grows), 4 Lanczos (8 taps, normalised), 9 auto (cubic to
enlarge, area to shrink, else bilinear), 10 a random one of 0..4. On float images these agree
with OpenCV's cv2.resize to float32 rounding. On uint8 images nearest, bilinear and bicubic
are OpenCV 3.4's (MXNet 1.9.1's) fixed point bit for bit; area and Lanczos match its uint8
results within 1 grey level.
"""
import logging
import os
import random

import numpy as np

from .base import MXNetError, numeric_types
from .ndarray import NDArray, array as _nd_array
from . import io as _io
from . import recordio

_LOG = logging.getLogger("mxc.image")

__all__ = ["imdecode", "imread", "imresize", "scale_down", "resize_short", "fixed_crop",
           "random_crop", "center_crop", "color_normalize", "random_size_crop", "Augmenter",
           "SequentialAug", "ResizeAug", "ForceResizeAug", "RandomCropAug",
           "RandomSizedCropAug", "CenterCropAug", "RandomOrderAug", "BrightnessJitterAug",
           "ContrastJitterAug", "SaturationJitterAug", "ColorJitterAug", "HueJitterAug",
           "LightingAug", "RandomGrayAug", "ColorNormalizeAug",
           "HorizontalFlipAug", "CastAug", "CreateAugmenter", "ImageIter"]

_GRAY_COEF = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# --------------------------------------------------------------------------- decoding


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise MXNetError("image decoding needs Pillow: install the extra with "
                         "pip install 'mxc[image]' (or pip install pillow)") from None
    return Image


def _as_bytes(buf):
    if isinstance(buf, NDArray):
        buf = buf.asnumpy()
    if isinstance(buf, np.ndarray):
        if buf.dtype != np.uint8:
            raise MXNetError("imdecode: the buffer must hold uint8 bytes, got dtype %s"
                             % buf.dtype)
        return buf.tobytes()
    if isinstance(buf, str):
        raise MXNetError("imdecode: the buffer must be bytes, not str")
    return bytes(buf)


def _open(data, what):
    import io as _pyio
    Image = _pil()
    if not data:
        raise MXNetError("%s: empty image buffer" % what)
    try:
        img = Image.open(_pyio.BytesIO(data))
        img.load()
    except Exception as err:  # pylint: disable=broad-except
        raise MXNetError("%s: cannot decode an image from %d bytes: %s"
                         % (what, len(data), err)) from None
    return img


# Raw-pixel image records (`pack_img(..., img_fmt=".raw")`, `im2rec --encoding .raw`): the
# bytes b"RAW8", then height, width and channels (1 grey or 3 RGB) as little-endian uint32,
# then height * width * channels uint8 pixels, row-major (H, W, C). No decoder is needed to
# read them (the exported C trainer reads them); MXNet's OpenCV decoder does not.
_RAW_MAGIC = b"RAW8"


def _raw_encode(pixels):
    """Raw-pixel bytes of an (H, W, C) uint8 RGB or grey image."""
    import struct
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    return _RAW_MAGIC + struct.pack("<III", *pixels.shape) + pixels.tobytes()


def _raw_decode(data, what):
    """(H, W, C) uint8 array of raw-pixel bytes, every size checked against the length."""
    import struct
    if len(data) < 16:
        raise MXNetError("%s: a raw-pixel image needs a 16-byte header, got %d bytes"
                         % (what, len(data)))
    h, w, c = struct.unpack("<III", data[4:16])
    if c not in (1, 3) or h == 0 or w == 0 or h * w * c != len(data) - 16:
        raise MXNetError("%s: raw-pixel header says %d x %d x %d, with %d pixel bytes after it"
                         % (what, h, w, c, len(data) - 16))
    return np.frombuffer(data, np.uint8, h * w * c, 16).reshape(h, w, c)


def _decode_rgb(data, flag, what="imdecode"):
    """(H, W, 3) RGB or (H, W, 1) grey uint8 NumPy array of encoded `data`."""
    if data[:4] == _RAW_MAGIC:
        img = _raw_decode(data, what)
        if flag == 0:
            return img if img.shape[2] == 1 else _grey_of_rgb(img, False)
        return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    import io as _pyio
    Image = _pil()
    if flag == 0:
        img = None
        try:
            probe = Image.open(_pyio.BytesIO(data)) if data else None
            if probe is not None and probe.format == "JPEG":
                probe.draft("L", probe.size)  # libjpeg's own luma, as OpenCV's grey decode
                probe.load()
                img = probe
        except Exception:  # pylint: disable=broad-except
            img = None
        if img is None:
            img = _open(data, what)
        if img.mode in ("1", "I;16", "I"):
            img = img.convert("L")
        if img.mode != "L":
            return _grey_of_rgb(np.asarray(img.convert("RGB")), img.format == "PNG")
        return np.asarray(img, dtype=np.uint8)[:, :, None]
    img = _open(data, what)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _grey_of_rgb(rgb, png):
    """(H, W, 1) grey of a colour image as OpenCV's grey decode computes it: for PNG,
    libpng's rgb_to_gray (weights 9797, 19234, 3737 / 2^15, truncated), otherwise
    cv::cvtColor's (4899, 9617, 1868 / 2^14, rounded)."""
    rgb = rgb.astype(np.int64)
    if png:
        grey = (9797 * rgb[..., 0] + 19234 * rgb[..., 1] + 3737 * rgb[..., 2]) >> 15
    else:
        grey = (4899 * rgb[..., 0] + 9617 * rgb[..., 1] + 1868 * rgb[..., 2] + 8192) >> 14
    return grey.astype(np.uint8)[:, :, None]


def _decode_bgr(data, iscolor=-1):
    """OpenCV's cv2.imdecode layout: 2-D grey, (H, W, 3) BGR or (H, W, 4) BGRA uint8."""
    data = _as_bytes(data)
    if iscolor < 0 and data[:4] == _RAW_MAGIC:
        img = _raw_decode(data, "unpack_img")
        return img[:, :, 0].copy() if img.shape[2] == 1 else img[:, :, ::-1].copy()
    if iscolor == 0:
        return _decode_rgb(data, 0, "unpack_img")[:, :, 0].copy()
    if iscolor > 0:
        return _decode_rgb(data, 1, "unpack_img")[:, :, ::-1].copy()
    img = _open(data, "unpack_img")
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        return rgba[:, :, [2, 1, 0, 3]].copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8)[:, :, ::-1].copy()


def _encode_bgr(img, quality=95, img_fmt=".jpg"):
    """Encoded bytes of a uint8 image in OpenCV's layout (grey, BGR or BGRA)."""
    import io as _pyio
    Image = _pil()
    if isinstance(img, NDArray):
        img = img.asnumpy()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise MXNetError("pack_img: the image must be uint8, got dtype %s" % img.dtype)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        pil = Image.fromarray(np.ascontiguousarray(img), "L")
    elif img.ndim == 3 and img.shape[2] == 3:
        pil = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]), "RGB")
    elif img.ndim == 3 and img.shape[2] == 4:
        pil = Image.fromarray(np.ascontiguousarray(img[:, :, [2, 1, 0, 3]]), "RGBA")
    else:
        raise MXNetError("pack_img: an image is (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                         "got shape %s" % (img.shape,))
    fmt = img_fmt.lower()
    if fmt == ".raw":
        if pil.mode == "RGBA":
            raise MXNetError("pack_img: raw-pixel records hold grey or RGB images, not BGRA")
        return _raw_encode(np.asarray(pil).reshape(pil.size[1], pil.size[0], -1))
    out = _pyio.BytesIO()
    if fmt in (".jpg", ".jpeg"):
        if not 1 <= int(quality) <= 100:
            raise MXNetError("pack_img: JPEG quality must be in 1..100, got %s" % quality)
        if pil.mode == "RGBA":
            raise MXNetError("pack_img: JPEG has no alpha channel; use img_fmt='.png'")
        pil.save(out, "JPEG", quality=int(quality))
    elif fmt == ".png":
        pil.save(out, "PNG", compress_level=min(max(int(quality), 0), 9))
    else:
        raise MXNetError("pack_img: img_fmt must be '.jpg', '.jpeg', '.png' or '.raw', got %r"
                         % img_fmt)
    return out.getvalue()


def _np(src):
    return src.asnumpy() if isinstance(src, NDArray) else np.asarray(src)


def _nd(arr):
    return _nd_array(arr, dtype=arr.dtype)


def imdecode(buf, flag=1, to_rgb=True, out=None):
    """Decodes an image (JPEG, PNG, ...) to an (H, W, C) uint8 NDArray: flag 1 colour
    (C = 3), 0 grey (C = 1); to_rgb False gives OpenCV's BGR order."""
    img = _decode_rgb(_as_bytes(buf), 0 if flag == 0 else 1)
    if flag != 0 and not to_rgb:
        img = img[:, :, ::-1].copy()
    if out is not None:
        out[:] = img
        return out
    return _nd(img)


def imread(filename, flag=1, to_rgb=True, out=None):
    """Reads and decodes an image file (see `imdecode`)."""
    try:
        with open(filename, "rb") as fin:
            data = fin.read()
    except OSError as err:
        raise MXNetError("imread: cannot read %s: %s" % (filename, err.strerror or err)) \
            from None
    try:
        return imdecode(data, flag, to_rgb, out)
    except MXNetError as err:
        raise MXNetError("imread %s: %s" % (filename, err)) from None


# --------------------------------------------------------------------------- resizing


def _interp_weights(n_in, n_out, interp):
    """(n_out, n_in) float64 matrix mapping a source axis to a resized one."""
    mat = np.zeros((n_out, n_in))
    scale = n_in / float(n_out)
    rows = np.arange(n_out)
    if interp == 0:
        src = np.minimum(np.floor(rows * scale).astype(np.int64), n_in - 1)
        mat[rows, src] = 1.0
        return mat
    if interp == 5:
        # OpenCV's area mode when either axis is enlarged: bilinear taps at floor(x * scale)
        # with the fraction left past the source pixel's scaled right edge
        inv = n_out / float(n_in)
        base = np.floor(rows * scale).astype(np.int64)
        frac = (rows + 1) - (base + 1) * inv
        frac = np.where(frac <= 0, 0.0, frac - np.floor(frac))
        np.add.at(mat, (rows, np.clip(base, 0, n_in - 1)), 1.0 - frac)
        np.add.at(mat, (rows, np.clip(base + 1, 0, n_in - 1)), frac)
        return mat
    if interp == 3 and n_out < n_in:
        # exact area averaging: each output pixel is the mean of the source span it covers
        lo, hi = rows * scale, (rows + 1) * scale
        for j in range(n_in):
            mat[:, j] = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / scale
        return mat
    src = (rows + 0.5) * scale - 0.5
    base = np.floor(src)
    frac = src - base
    base = base.astype(np.int64)
    if interp in (1, 3):
        taps = [(0, 1.0 - frac), (1, frac)]
    elif interp == 2:
        a = -0.75

        def cubic(x):
            x = np.abs(x)
            return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                            np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))
        taps = [(k, cubic(frac - k)) for k in (-1, 0, 1, 2)]
    elif interp == 4:
        taps = [(k, np.sinc(frac - k) * np.sinc((frac - k) / 4.0)) for k in range(-3, 5)]
        total = sum(w for _, w in taps)
        taps = [(k, w / total) for k, w in taps]
    else:
        raise MXNetError("imresize: unknown interpolation %s (0..4, 9 or 10)" % interp)
    for k, weight in taps:
        np.add.at(mat, (rows, np.clip(base + k, 0, n_in - 1)), weight)
    return mat


def _get_interp_method(interp, sizes=()):
    if interp == 9:
        if sizes:
            old_h, old_w, new_h, new_w = sizes
            if new_h > old_h and new_w > old_w:
                return 2
            if new_h < old_h and new_w < old_w:
                return 3
            return 1
        return 2
    if interp == 10:
        return random.randint(0, 4)
    if interp not in (0, 1, 2, 3, 4):
        raise ValueError("Unknown interp method %d" % interp)
    return interp


def _linear_taps_u8(n_in, n_out, clamp=True):
    """OpenCV's fixed-point bilinear taps of one axis: source indices (lo, hi) and weights
    (w0, w1) in 1/2048ths, from float32 source positions as cv::resize computes them. Past
    the borders the columns (`clamp`) take the edge pixel whole; the rows keep their
    fraction, blending the edge row with itself."""
    pos = ((np.arange(n_out) + 0.5) * (n_in / float(n_out)) - 0.5).astype(np.float32)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo.astype(np.float32)
    if clamp:
        frac[(lo < 0) | (lo >= n_in - 1)] = 0
        lo = np.clip(lo, 0, n_in - 1)
    w0 = np.rint((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)
    w1 = np.rint(frac * np.float32(2048)).astype(np.int64)
    return np.clip(lo, 0, n_in - 1), np.clip(lo + 1, 0, n_in - 1), w0, w1


def _resize_linear_u8(img, w, h):
    """Bilinear resize of a uint8 image bit for bit as OpenCV 3.4's cv::resize: rows of
    11-bit fixed-point horizontal sums, then the vertical blend rounded as its SIMD kernel
    ((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2; an exact halving of both
    axes is its 2x2 box average."""
    src_h, src_w = img.shape[:2]
    src = img.astype(np.int64)
    if src_h == 2 * h and src_w == 2 * w:
        box = src[0::2, 0::2] + src[0::2, 1::2] + src[1::2, 0::2] + src[1::2, 1::2]
        return ((box + 2) >> 2).astype(np.uint8)
    xlo, xhi, a0, a1 = _linear_taps_u8(src_w, w)
    ylo, yhi, b0, b1 = _linear_taps_u8(src_h, h, clamp=False)
    extra = (1,) * (img.ndim - 2)
    rows = src[:, xlo] * a0.reshape((1, -1) + extra) + src[:, xhi] * a1.reshape((1, -1) + extra)
    b0 = b0.reshape((-1, 1) + extra)
    b1 = b1.reshape((-1, 1) + extra)
    out = (((b0 * (rows[ylo] >> 4)) >> 16) + ((b1 * (rows[yhi] >> 4)) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def _cubic_taps_u8(n_in, n_out):
    """OpenCV's fixed-point bicubic taps (A = -0.75) of one axis: (n_out, 4) source indices
    (clamped to the edges) and weights in 1/2048ths, from float32 positions and weights."""
    f32 = np.float32
    pos = ((np.arange(n_out) + 0.5) * (n_in / float(n_out)) - 0.5).astype(f32)
    lo = np.floor(pos).astype(np.int64)
    x = pos - lo.astype(f32)
    a, one = f32(-0.75), f32(1)
    c0 = ((a * (x + one) - f32(5) * a) * (x + one) + f32(8) * a) * (x + one) - f32(4) * a
    c1 = ((a + f32(2)) * x - (a + f32(3))) * x * x + one
    c2 = ((a + f32(2)) * (one - x) - (a + f32(3))) * (one - x) * (one - x) + one
    c3 = one - c0 - c1 - c2
    weights = np.rint(np.stack([c0, c1, c2, c3], axis=1) * f32(2048)).astype(np.int64)
    return np.clip(lo[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1), weights


def _resize_cubic_u8(img, w, h):
    """Bicubic resize of a uint8 image bit for bit as OpenCV 3.4's cv::resize: rows of
    fixed-point horizontal sums; the vertical sum in float32 (weights / 2048^2, rounded to
    even) over each row's first multiple of 8 values, as its SSE2 kernel, and in integers
    ((sum + 2^21) >> 22) over the rest."""
    src_h, src_w = img.shape[:2]
    chans = img.shape[2] if img.ndim == 3 else 1
    src = img.reshape(src_h, src_w, chans).astype(np.int64)
    xi, xw = _cubic_taps_u8(src_w, w)
    yi, yw = _cubic_taps_u8(src_h, h)
    rows = sum(src[:, xi[:, k]] * xw[None, :, k, None] for k in range(4)).reshape(src_h, -1)
    width = w * chans
    vec = width // 8 * 8
    scale = np.float32(1.0 / (2048 * 2048))
    out = np.empty((h, width), np.int64)
    acc = None
    for k in range(4):
        term = rows[yi[:, k], :vec].astype(np.float32) * (yw[:, k].astype(np.float32)
                                                          * scale)[:, None]
        acc = term if acc is None else acc + term
    out[:, :vec] = np.rint(acc)
    tail = sum(rows[yi[:, k], vec:] * yw[:, k, None] for k in range(4))
    out[:, vec:] = (tail + (1 << 21)) >> 22
    return np.clip(out, 0, 255).astype(np.uint8).reshape((h, w) + img.shape[2:])


def _resize(img, w, h, interp):
    w, h = int(w), int(h)
    if w <= 0 or h <= 0:
        raise MXNetError("imresize: the new size must be positive, got w=%d h=%d" % (w, h))
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise MXNetError("imresize: an image is (H, W) or (H, W, C) and not empty; got %s"
                         % (img.shape,))
    interp = _get_interp_method(interp, (img.shape[0], img.shape[1], h, w))
    if interp == 1 and img.dtype == np.uint8:
        return _resize_linear_u8(img, w, h)
    if interp == 2 and img.dtype == np.uint8:
        return _resize_cubic_u8(img, w, h)
    if interp == 3 and (h > img.shape[0] or w > img.shape[1]):
        interp = 5  # OpenCV enlarges with its area-mode bilinear taps on both axes
    wy = _interp_weights(img.shape[0], h, interp)
    wx = _interp_weights(img.shape[1], w, interp)
    # two matrix products (BLAS, outside the GIL): rows, then columns
    out = np.tensordot(wy, img.astype(np.float64), axes=(1, 0))
    out = np.moveaxis(np.tensordot(wx, out, axes=(1, 1)), 0, 1)
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(img.dtype)
    return out.astype(img.dtype)


def imresize(src, w, h, interp=1, out=None):
    """`src` (H, W, C) resized to width `w` and height `h` (interpolation codes: see the
    module docstring)."""
    res = _nd(_resize(_np(src), w, h, interp))
    if out is not None:
        out[:] = res.asnumpy()
        return out
    return res


def scale_down(src_size, size):
    """The crop size (w, h) shrunk, keeping its aspect, to fit an image of src_size (w, h)."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def resize_short(src, size, interp=2):
    """Resizes so that the shorter side is `size`, keeping the aspect ratio."""
    h, w = _np(src).shape[:2]
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return imresize(src, new_w, new_h, interp=_get_interp_method(interp, (h, w, new_h, new_w)))


def fixed_crop(src, x0, y0, w, h, size=None, interp=2):
    """The (w, h) region at (x0, y0), resized to `size` (w, h) when given."""
    img = _np(src)
    if x0 < 0 or y0 < 0 or w <= 0 or h <= 0 or x0 + w > img.shape[1] or y0 + h > img.shape[0]:
        raise MXNetError("fixed_crop: region x0=%d y0=%d w=%d h=%d is outside the %dx%d image"
                         % (x0, y0, w, h, img.shape[1], img.shape[0]))
    out = np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])
    if size is not None and (w, h) != tuple(size):
        sizes = (h, w, size[1], size[0])
        out = _resize(out, size[0], size[1], _get_interp_method(interp, sizes))
    return _nd(out)


def random_crop(src, size, interp=2):
    """A random crop of `size` (w, h) (shrunk to fit); returns (image, (x0, y0, w, h))."""
    h, w = _np(src).shape[:2]
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def center_crop(src, size, interp=2):
    """The centred crop of `size` (w, h) (shrunk to fit); returns (image, (x0, y0, w, h))."""
    h, w = _np(src).shape[:2]
    new_w, new_h = scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """(src - mean) / std, broadcast over the channel axis."""
    img = _np(src).astype(np.float32)
    if mean is not None:
        img = img - _np(mean).astype(np.float32)
    if std is not None:
        img = img / _np(std).astype(np.float32)
    return _nd(img)


def random_size_crop(src, size, area, ratio, interp=2, **kwargs):
    """A crop of random area fraction (area or (min, max)) and aspect ratio (log-uniform in
    `ratio`), resized to `size`; the centre crop after 10 failed draws."""
    if "min_area" in kwargs:
        area = kwargs.pop("min_area")
    if kwargs:
        raise TypeError("random_size_crop: unexpected arguments %s" % sorted(kwargs))
    h, w = _np(src).shape[:2]
    if isinstance(area, numeric_types):
        area = (area, 1.0)
    for _ in range(10):
        target = random.uniform(area[0], area[1]) * h * w
        new_ratio = np.exp(random.uniform(np.log(ratio[0]), np.log(ratio[1])))
        new_w = int(round(np.sqrt(target * new_ratio)))
        new_h = int(round(np.sqrt(target / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)
    return center_crop(src, size, interp)


# --------------------------------------------------------------------------- augmenters


class Augmenter:
    """Base of the image augmenters: `aug(src)` returns the augmented image."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        for key, value in kwargs.items():
            if isinstance(value, NDArray):
                self._kwargs[key] = value.asnumpy().tolist()
            elif isinstance(value, np.ndarray):
                self._kwargs[key] = value.tolist()

    def dumps(self):
        """The augmenter's name and parameters as a JSON string."""
        import json
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, src):
        raise NotImplementedError("Must override implementation.")


class _ListAug(Augmenter):
    """An augmenter over a list of augmenters `ts` (dumped as their dumps)."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]


class _SizedAug(Augmenter):
    """An augmenter to a `size` with OpenCV interpolation code `interp`."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size, self.interp = size, interp


class SequentialAug(_ListAug):
    """Applies the augmenters `ts` in order."""

    def __call__(self, src):
        for aug in self.ts:
            src = aug(src)
        return src


class ResizeAug(_SizedAug):
    """Resizes the shorter side to `size`."""

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(_SizedAug):
    """Resizes to exactly `size` (w, h)."""

    def __call__(self, src):
        h, w = _np(src).shape[:2]
        sizes = (h, w, self.size[1], self.size[0])
        return imresize(src, *self.size, interp=_get_interp_method(self.interp, sizes))


class RandomCropAug(_SizedAug):
    """A random crop of `size` (w, h)."""

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """A crop of random area and aspect ratio, resized to `size` (w, h)."""

    def __init__(self, size, area, ratio, interp=2, **kwargs):
        super().__init__(size=size, area=area, ratio=ratio, interp=interp)
        self.size, self.area, self.ratio, self.interp = size, area, ratio, interp
        if "min_area" in kwargs:
            self.area = kwargs.pop("min_area")
        if kwargs:
            raise TypeError("RandomSizedCropAug: unexpected arguments %s" % sorted(kwargs))

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(_SizedAug):
    """The centred crop of `size` (w, h)."""

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class RandomOrderAug(_ListAug):
    """Applies the augmenters `ts` in a random order."""

    def __call__(self, src):
        order = list(self.ts)
        random.shuffle(order)
        for aug in order:
            src = aug(src)
        return src


class BrightnessJitterAug(Augmenter):
    """src * alpha, alpha uniform in [1 - brightness, 1 + brightness]."""

    def __init__(self, brightness):
        super().__init__(brightness=brightness)
        self.brightness = brightness

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.brightness, self.brightness)
        img = _np(src)
        return _nd((img * np.asarray(alpha, img.dtype)).astype(img.dtype))


class ContrastJitterAug(Augmenter):
    """Blends with the image's mean grey level: src * alpha + (1 - alpha) * mean grey."""

    def __init__(self, contrast):
        super().__init__(contrast=contrast)
        self.contrast = contrast

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.contrast, self.contrast)
        img = _np(src).astype(np.float32)
        gray = (3.0 * (1.0 - alpha) / img.size) * float((img * _GRAY_COEF).sum())
        return _nd((img * np.float32(alpha) + np.float32(gray)).astype(np.float32))


class SaturationJitterAug(Augmenter):
    """Blends with each pixel's grey level: src * alpha + (1 - alpha) * grey."""

    def __init__(self, saturation):
        super().__init__(saturation=saturation)
        self.saturation = saturation

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.saturation, self.saturation)
        img = _np(src).astype(np.float32)
        gray = (img * _GRAY_COEF).sum(axis=2, keepdims=True) * np.float32(1.0 - alpha)
        return _nd((img * np.float32(alpha) + gray).astype(np.float32))


class ColorJitterAug(RandomOrderAug):
    """Brightness, contrast and saturation jitter in a random order."""

    def __init__(self, brightness, contrast, saturation):
        ts = []
        if brightness > 0:
            ts.append(BrightnessJitterAug(brightness))
        if contrast > 0:
            ts.append(ContrastJitterAug(contrast))
        if saturation > 0:
            ts.append(SaturationJitterAug(saturation))
        super().__init__(ts)


class HueJitterAug(Augmenter):
    """Rotates the hue by a random angle in [-hue, hue] * pi in YIQ space (luma unchanged)."""

    _TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321],
                        [0.211, -0.523, 0.311]])
    _FROM_YIQ = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.107, 1.705]])

    def __init__(self, hue):
        super().__init__(hue=hue)
        self.hue = hue

    def __call__(self, src):
        alpha = random.uniform(-self.hue, self.hue)
        cos, sin = np.cos(alpha * np.pi), np.sin(alpha * np.pi)
        rotate = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
        mat = (self._FROM_YIQ @ rotate @ self._TO_YIQ).T.astype(np.float32)
        return _nd(_np(src).astype(np.float32) @ mat)


class LightingAug(Augmenter):
    """AlexNet's PCA lighting noise: adds eigvec @ (eigval * alpha), alpha ~ N(0, alphastd)
    per image (drawn from NumPy's global generator)."""

    def __init__(self, alphastd, eigval, eigvec):
        super().__init__(alphastd=alphastd, eigval=eigval, eigvec=eigvec)
        self.alphastd = alphastd
        self.eigval, self.eigvec = np.asarray(eigval), np.asarray(eigvec)

    def __call__(self, src):
        alpha = np.random.normal(0, self.alphastd, size=(3,))
        rgb = (self.eigvec * alpha) @ self.eigval
        return _nd((_np(src).astype(np.float32) + rgb.astype(np.float32)))


class RandomGrayAug(Augmenter):
    """With probability p, every channel becomes 0.21 R + 0.72 G + 0.07 B."""

    _MAT = np.array([[0.21, 0.21, 0.21], [0.72, 0.72, 0.72], [0.07, 0.07, 0.07]], np.float32)

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            return _nd(_np(src).astype(np.float32) @ self._MAT)
        return src


class ColorNormalizeAug(Augmenter):
    """(src - mean) / std."""

    def __init__(self, mean, std):
        super().__init__(mean=mean, std=std)
        self.mean = None if mean is None else _np(mean)
        self.std = None if std is None else _np(std)

    def __call__(self, src):
        return color_normalize(src, self.mean, self.std)


class HorizontalFlipAug(Augmenter):
    """Mirrors left-right with probability p."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            return _nd(np.ascontiguousarray(_np(src)[:, ::-1]))
        return src


class CastAug(Augmenter):
    """Casts to `typ` (float32 by default)."""

    def __init__(self, typ="float32"):
        super().__init__(type=typ)
        self.typ = typ

    def __call__(self, src):
        return _nd(_np(src).astype(self.typ))


def CreateAugmenter(data_shape, resize=0, rand_crop=False, rand_resize=False,  # noqa: N802
                    rand_mirror=False, mean=None, std=None, brightness=0, contrast=0,
                    saturation=0, hue=0, pca_noise=0, rand_gray=0, inter_method=2):
    """MXNet's standard augmenter list for images of data_shape (C, H, W): resize of the
    short side, random/centre crop, mirror, cast to float32, colour and hue jitter, PCA
    lighting noise, random grey, normalisation (mean / std True: the ImageNet values)."""
    auglist = []
    if resize > 0:
        auglist.append(ResizeAug(resize, inter_method))
    crop_size = (data_shape[2], data_shape[1])
    if rand_resize:
        if not rand_crop:
            raise MXNetError("CreateAugmenter: rand_resize needs rand_crop")
        auglist.append(RandomSizedCropAug(crop_size, 0.08, (3.0 / 4.0, 4.0 / 3.0),
                                          inter_method))
    elif rand_crop:
        auglist.append(RandomCropAug(crop_size, inter_method))
    else:
        auglist.append(CenterCropAug(crop_size, inter_method))
    if rand_mirror:
        auglist.append(HorizontalFlipAug(0.5))
    auglist.append(CastAug())
    if brightness or contrast or saturation:
        auglist.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        auglist.append(HueJitterAug(hue))
    if pca_noise > 0:  # the ImageNet RGB eigenvalues and eigenvectors
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])
        auglist.append(LightingAug(pca_noise, eigval, eigvec))
    if rand_gray > 0:
        auglist.append(RandomGrayAug(rand_gray))
    if mean is True:
        mean = np.array([123.68, 116.28, 103.53])
    if std is True:
        std = np.array([58.395, 57.12, 57.375])
    for name, value in (("mean", mean), ("std", std)):
        if value is not None and _np(value).shape[0] not in (1, 3):
            raise MXNetError("CreateAugmenter: %s must have 1 or 3 values, got shape %s"
                             % (name, _np(value).shape))
    if mean is not None or std is not None:
        auglist.append(ColorNormalizeAug(mean, std))
    return auglist


# --------------------------------------------------------------------------- ImageIter


class ImageIter(_io.DataIter):
    """Batches of images (batch, C, H, W) and labels from a `.rec` file (path_imgrec, with
    path_imgidx for shuffling and parts), an image list file (path_imglist: lines
    ``index<TAB>label...<TAB>path`` under path_root) or a Python list `imglist` of
    [label..., path]. Augmenters come from `aug_list` or CreateAugmenter(data_shape,
    **kwargs). last_batch_handle: 'pad' (fill from the start; `pad` counts the fillers),
    'discard' or 'roll_over'."""

    def __init__(self, batch_size, data_shape, label_width=1, path_imgrec=None,
                 path_imglist=None, path_root=None, path_imgidx=None, shuffle=False,
                 part_index=0, num_parts=1, aug_list=None, imglist=None, data_name="data",
                 label_name="softmax_label", dtype="float32", last_batch_handle="pad",
                 **kwargs):
        super().__init__(batch_size)
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise MXNetError("ImageIter needs path_imgrec, path_imglist or imglist")
        if dtype not in ("int32", "float32", "int64", "float64"):
            raise MXNetError("ImageIter: label dtype %s is not supported" % dtype)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise MXNetError("ImageIter: last_batch_handle must be 'pad', 'discard' or "
                             "'roll_over', got %r" % (last_batch_handle,))
        if len(data_shape) != 3 or data_shape[0] != 3:
            raise MXNetError("ImageIter: data_shape is (3, H, W), got %s" % (data_shape,))
        self.imgrec, self.imgidx = None, None
        if path_imgrec:
            if path_imgidx:
                self.imgrec = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(path_imgrec, "r")
        imgkeys = []
        self.imglist = None
        if path_imglist:
            self.imglist = {}
            with open(path_imglist) as fin:
                for lineno, line in enumerate(fin, 1):
                    fields = line.strip().split("\t")
                    if fields == [""]:
                        continue
                    try:
                        if len(fields) < 3:
                            raise ValueError("expected index<TAB>label...<TAB>path")
                        key = int(fields[0])
                        label = np.array([float(x) for x in fields[1:-1]], dtype=dtype)
                    except ValueError as err:
                        raise MXNetError("ImageIter: %s line %d: %s" % (path_imglist, lineno,
                                                                        err)) from None
                    self.imglist[key] = (label, fields[-1])
                    imgkeys.append(key)
        elif isinstance(imglist, list):
            self.imglist = {}
            for index, img in enumerate(imglist, 1):
                key = str(index)
                if len(img) > 2:
                    label = np.array(img[:-1], dtype=dtype)
                elif isinstance(img[0], numeric_types):
                    label = np.array([img[0]], dtype=dtype)
                else:
                    label = np.array(img[0], dtype=dtype)
                self.imglist[key] = (label, img[-1])
                imgkeys.append(key)
        self.path_root = path_root
        self.batch_size = batch_size
        self.data_shape = tuple(data_shape)
        self.label_width = label_width
        self.dtype = dtype
        self.data_name, self.label_name = data_name, label_name
        self.shuffle = shuffle
        if self.imgrec is None:
            self.seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            if self.imgidx is None:
                raise MXNetError("ImageIter: shuffle and num_parts over a .rec file need "
                                 "path_imgidx")
            self.seq = self.imgidx
        else:
            self.seq = None
        if num_parts > 1:
            if not 0 <= part_index < num_parts:
                raise MXNetError("ImageIter: part_index %d is not in 0..%d"
                                 % (part_index, num_parts - 1))
            count = len(self.seq) // num_parts
            self.seq = self.seq[part_index * count:(part_index + 1) * count]
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else aug_list
        self.last_batch_handle = last_batch_handle
        self.num_image = len(self.seq) if self.seq is not None else None
        self.cur = 0
        self._allow_read = True
        self._cache = None
        self.reset()

    @property
    def provide_data(self):
        return [_io.DataDesc(self.data_name, (self.batch_size,) + self.data_shape)]

    @property
    def provide_label(self):
        shape = (self.batch_size, self.label_width) if self.label_width > 1 \
            else (self.batch_size,)
        return [_io.DataDesc(self.label_name, shape)]

    def reset(self):
        """Back to the first image (a rolled-over remainder is kept)."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur = 0
            self._allow_read = True

    def hard_reset(self):
        """Back to the first image, dropping a rolled-over remainder."""
        self._cache = None
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur = 0
        self._allow_read = True

    def next_sample(self):
        """(label, encoded image bytes) of the next image."""
        if not self._allow_read:
            raise StopIteration
        if self.seq is not None:
            if self.cur >= self.num_image:
                if self.last_batch_handle != "discard":
                    self.cur = 0
                raise StopIteration
            idx = self.seq[self.cur]
            self.cur += 1
            if self.imgrec is not None:
                header, img = recordio.unpack(self.imgrec.read_idx(idx))
                label = header.label if self.imglist is None else self.imglist[idx][0]
                return label, img
            label, fname = self.imglist[idx]
            return label, self.read_image(fname)
        data = self.imgrec.read()
        if data is None:
            if self.last_batch_handle != "discard":
                self.imgrec.reset()
            raise StopIteration
        header, img = recordio.unpack(data)
        return header.label, img

    def _batchify(self, batch_data, batch_label, start=0):
        i = start
        try:
            while i < self.batch_size:
                label, raw = self.next_sample()
                data = self.augmentation_transform(self.imdecode(raw))
                data = self.postprocess_data(data)
                if data.shape != self.data_shape:
                    raise MXNetError("ImageIter: an augmented image has shape %s, not "
                                     "data_shape %s" % (data.shape, self.data_shape))
                batch_data[i] = data
                label = np.asarray(label, dtype=np.float64).ravel()
                if label.size < self.label_width:
                    raise MXNetError("ImageIter: a record has %d labels, label_width is %d"
                                     % (label.size, self.label_width))
                batch_label[i] = label[:self.label_width] if self.label_width > 1 \
                    else label[0]
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        """The next DataBatch."""
        if self._cache is not None:
            batch_data, batch_label, i = self._cache
        else:
            batch_data = np.zeros((self.batch_size,) + self.data_shape, np.float32)
            batch_label = np.zeros(self.provide_label[0].shape, self.dtype)
            i = self._batchify(batch_data, batch_label)
        pad = self.batch_size - i
        if pad:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache is None:
                self._cache = (batch_data, batch_label, i)
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache = None
        return _io.DataBatch([_nd(batch_data)], [_nd(batch_label)], pad=pad)

    def iter_next(self):
        raise NotImplementedError("ImageIter yields through next()")

    def imdecode(self, s):
        """Decodes one image; a broken image names its record or file."""
        try:
            return imdecode(s)
        except MXNetError as err:
            where = self.seq[self.cur - 1] if self.seq is not None and self.cur else "?"
            if self.imglist is not None and where in self.imglist:
                where = "file %s" % self.imglist[where][1]
            else:
                where = "index %s" % (where,)
            raise MXNetError("ImageIter: broken image (%s): %s" % (where, err)) from None

    def read_image(self, fname):
        """The bytes of image file `fname` under path_root."""
        path = os.path.join(self.path_root, fname) if self.path_root else fname
        try:
            with open(path, "rb") as fin:
                return fin.read()
        except OSError as err:
            raise MXNetError("ImageIter: cannot read image %s: %s"
                             % (path, err.strerror or err)) from None

    def augmentation_transform(self, data):
        """The image after every augmenter."""
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum):
        """(H, W, C) to (C, H, W) as float32."""
        return np.transpose(_np(datum), (2, 0, 1)).astype(np.float32)


# --------------------------------------------------------------------------- ImageRecordIter


def _warp_affine_u8(img, mat, out_w, out_h, fill):
    """cv::warpAffine of a uint8 (H, W, C) image, bilinear, constant border `fill`, as
    OpenCV 3.4 computes it: `mat` (2 x 3, source to destination) inverted in double, source
    positions in 1/1024ths rounded to 1/32 of a pixel, the four taps weighted in 1/32768ths
    (a tap outside the image reads `fill`)."""
    m = np.asarray(mat, np.float64).reshape(2, 3)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    det = 1.0 / det if det != 0 else 0.0
    a11, a12, a21, a22 = m[1, 1] * det, -m[0, 1] * det, -m[1, 0] * det, m[0, 0] * det
    b1 = -a11 * m[0, 2] - a12 * m[1, 2]
    b2 = -a21 * m[0, 2] - a22 * m[1, 2]
    xs, ys = np.arange(out_w, dtype=np.float64), np.arange(out_h, dtype=np.float64)
    adelta = np.rint(a11 * xs * 1024).astype(np.int64)
    bdelta = np.rint(a21 * xs * 1024).astype(np.int64)
    x0 = np.rint((a12 * ys + b1) * 1024).astype(np.int64) + 16
    y0 = np.rint((a22 * ys + b2) * 1024).astype(np.int64) + 16
    sx_fixed = (x0[:, None] + adelta[None, :]) >> 5
    sy_fixed = (y0[:, None] + bdelta[None, :]) >> 5
    sx, fx = sx_fixed >> 5, sx_fixed & 31
    sy, fy = sy_fixed >> 5, sy_fixed & 31
    src_h, src_w = img.shape[:2]
    src = img.reshape(src_h, src_w, -1).astype(np.int64)
    acc = np.zeros((out_h, out_w, src.shape[2]), np.int64)
    for dy, dx, weight in ((0, 0, (32 - fx) * (32 - fy)), (0, 1, fx * (32 - fy)),
                           (1, 0, (32 - fx) * fy), (1, 1, fx * fy)):
        ty, tx = sy + dy, sx + dx
        inside = (ty >= 0) & (ty < src_h) & (tx >= 0) & (tx < src_w)
        tap = np.where(inside[:, :, None],
                       src[np.clip(ty, 0, src_h - 1), np.clip(tx, 0, src_w - 1)], int(fill))
        acc += tap * (weight * 32)[:, :, None]
    out = np.clip((acc + (1 << 14)) >> 15, 0, 255).astype(np.uint8)
    return out.reshape((out_h, out_w) + img.shape[2:])


def _affine_matrix(cols, rows, angle, shear, scale, ratio, min_img_size, max_img_size):
    """MXNet's default augmenter's affine step in float32: rotation `angle` (degrees),
    shear `shear`, scale and aspect `ratio`; returns the 2 x 3 source-to-destination matrix
    and the output (width, height)."""
    f32 = np.float32
    a = f32(np.cos(angle / 180.0 * np.pi))
    b = f32(np.sin(angle / 180.0 * np.pi))
    shear, scale, ratio = f32(shear), f32(scale), f32(ratio)
    hs = f32(2) * scale / (f32(1) + ratio)
    ws = ratio * hs
    new_w = max(f32(min_img_size), min(f32(max_img_size), scale * f32(cols)))
    new_h = max(f32(min_img_size), min(f32(max_img_size), scale * f32(rows)))
    m00 = hs * a - shear * b * ws
    m10 = -b * ws
    m01 = hs * b + shear * a * ws
    m11 = a * ws
    m02 = (new_w - (m00 * f32(cols) + m01 * f32(rows))) / f32(2)
    m12 = (new_h - (m10 * f32(cols) + m11 * f32(rows))) / f32(2)
    mat = np.array([[m00, m01, m02], [m10, m11, m12]], np.float32)
    return mat, int(new_w), int(new_h)


class _Draws:
    """A record's uniform draws in [0, 1), handed out in order."""

    def __init__(self, values):
        self._values, self._pos = values, 0

    def uniform(self, low=0.0, high=1.0):
        value = self._values[self._pos % len(self._values)]
        self._pos += 1
        return low + (high - low) * value

    def randint(self, low, high):
        """An integer in [low, high]."""
        return min(high, low + int(self.uniform() * (high - low + 1)))


# ImageRecordIter's augmentation parameters (MXNet's default augmenter) and their defaults
_AUG_DEFAULTS = dict(resize=-1, rand_crop=False, random_resized_crop=False,
                     max_rotate_angle=0, max_aspect_ratio=0.0, min_aspect_ratio=None,
                     max_shear_ratio=0.0, max_crop_size=-1, min_crop_size=-1,
                     max_random_scale=1.0, min_random_scale=1.0, max_random_area=1.0,
                     min_random_area=1.0, max_img_size=1e10, min_img_size=0.0, rotate=-1,
                     fill_value=255, inter_method=1, pad=0, rand_mirror=False, mirror=False,
                     brightness=0.0, contrast=0.0, saturation=0.0, pca_noise=0.0, random_h=0,
                     random_s=0, random_l=0)
_DRAWS_PER_RECORD = 64
# ImageNet's RGB eigenvalues and eigenvectors (columns) for pca_noise, as MXNet's
_PCA_EIGVAL = np.array([55.46, 4.794, 1.148])
_PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                        [-0.5836, -0.6948, 0.4203]])


def _rgb_to_hls_u8(rgb):
    """OpenCV's 8-bit HLS of an (H, W, 3) uint8 RGB image, in float32 as cv::cvtColor
    computes it: H in [0, 180) (degrees / 2), L and S in [0, 255], each rounded."""
    f32 = np.float32
    x = rgb.astype(f32) * f32(1.0 / 255.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    vmax, vmin = x.max(axis=2), x.min(axis=2)
    diff = vmax - vmin
    light = (vmax + vmin) * f32(0.5)
    coloured = diff > np.finfo(np.float32).eps
    safe = np.where(coloured, diff, f32(1))
    sat = np.where(light < f32(0.5), diff / np.where(coloured, vmax + vmin, f32(1)),
                   diff / np.where(coloured, f32(2) - vmax - vmin, f32(1)))
    scale = f32(60) / safe
    hue = np.where(vmax == r, (g - b) * scale,
                   np.where(vmax == g, (b - r) * scale + f32(120), (r - g) * scale + f32(240)))
    hue = np.where(hue < 0, hue + f32(360), hue)
    hue, sat = np.where(coloured, hue, f32(0)), np.where(coloured, sat, f32(0))
    out = np.stack([hue * f32(0.5), light * f32(255), sat * f32(255)], axis=2)
    return np.clip(np.rint(out), 0, 255)


def _hls_to_rgb_u8(hls):
    """(H, W, 3) uint8 RGB of 8-bit HLS values (H in degrees / 2), in float32 as OpenCV's
    HLS2RGB: the hue's sector of six picks the channels among p1, p2 and their blends."""
    f32 = np.float32
    hue = hls[..., 0].astype(f32) * f32(2) * f32(6.0 / 360.0)
    light = hls[..., 1].astype(f32) * f32(1.0 / 255.0)
    sat = hls[..., 2].astype(f32) * f32(1.0 / 255.0)
    p2 = np.where(light <= f32(0.5), light * (f32(1) + sat), light + sat - light * sat)
    p1 = f32(2) * light - p2
    hue = np.mod(hue, f32(6))
    sector = np.floor(hue).astype(np.int64)
    frac = hue - sector.astype(f32)
    tab = np.stack([p2, p1, p1 + (p2 - p1) * (f32(1) - frac), p1 + (p2 - p1) * frac], axis=-1)
    # per sector, the entries of tab giving (b, g, r)
    pick = np.array([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]])
    bgr = np.take_along_axis(tab, pick[sector], axis=-1)
    grey = sat == 0
    bgr = np.where(grey[..., None], light[..., None], bgr)
    return np.clip(np.rint(bgr[..., ::-1] * f32(255)), 0, 255).astype(np.uint8)


class _DefaultAugmenter:
    """MXNet's default ImageRecordIter augmenter (resize, affine, pad, crop, mirror, colour)
    on a uint8 (H, W, C) image, its random choices taken from a record's `_Draws`.

    Steps, as MXNet's: (1) `resize` > 0: the shorter side to `resize`; (2) when any of
    rotation, shear, random scale, aspect ratio or image-size bounds is asked for, one
    cv::warpAffine (bilinear, border `fill_value`) rotating by an integer angle in
    [-max_rotate_angle, max_rotate_angle] (`rotate` > 0 fixes it), shearing x by m*y with m
    in [-max_shear_ratio, max_shear_ratio], scaling by s in [min_random_scale,
    max_random_scale] and changing the aspect (width / height) to r, uniform in
    [min_aspect_ratio, max_aspect_ratio], or in [1 - max_aspect_ratio, 1 + max_aspect_ratio]
    without a minimum; the output is s*W x s*H clamped to [min_img_size, max_img_size];
    (3) `pad` pixels of `fill_value` on every side; (4) the crop: with
    `random_resized_crop` a region of area fraction in [min_random_area, max_random_area]
    and aspect log-uniform in [min_aspect_ratio, max_aspect_ratio] (10 tries; otherwise the
    centre crop) resized to data_shape; with min/max_crop_size a random square of that side
    resized to data_shape; else data_shape's window at a random (`rand_crop`) or the centred
    position; an image smaller than data_shape is first enlarged to cover it (bilinear,
    keeping its aspect: to data_shape's height, then to its width);
    (5) mirrored always (`mirror`) or with probability 1/2 (`rand_mirror`); (6) colour:
    random_h / random_l / random_s shifts of OpenCV's 8-bit HLS channels, then brightness,
    contrast and saturation jitter in a random order and pca_noise lighting (see
    `_colour_jitter`; on grey images brightness and contrast only).
    """

    def __init__(self, out_h, out_w, params):
        self.out_h, self.out_w = out_h, out_w
        p = dict(_AUG_DEFAULTS)
        p.update(params)
        self.resize = int(p["resize"])
        self.rand_crop, self.rrc = bool(p["rand_crop"]), bool(p["random_resized_crop"])
        self.max_angle, self.rotate = int(p["max_rotate_angle"]), int(p["rotate"])
        self.max_aspect = float(p["max_aspect_ratio"])
        self.min_aspect = None if p["min_aspect_ratio"] is None \
            else float(p["min_aspect_ratio"])
        self.max_shear = float(p["max_shear_ratio"])
        self.min_crop, self.max_crop = int(p["min_crop_size"]), int(p["max_crop_size"])
        self.min_scale, self.max_scale = float(p["min_random_scale"]), \
            float(p["max_random_scale"])
        self.min_area, self.max_area = float(p["min_random_area"]), \
            float(p["max_random_area"])
        self.min_img, self.max_img = float(p["min_img_size"]), float(p["max_img_size"])
        self.fill, self.pad = int(p["fill_value"]), int(p["pad"])
        self.inter = int(p["inter_method"])
        self.mirror, self.rand_mirror = bool(p["mirror"]), bool(p["rand_mirror"])
        self.brightness, self.contrast = float(p["brightness"]), float(p["contrast"])
        self.saturation, self.pca_noise = float(p["saturation"]), float(p["pca_noise"])
        self.hls = (int(p["random_h"]), int(p["random_l"]), int(p["random_s"]))
        self._check()
        aspect_on = (self.max_aspect != 0.0) if self.min_aspect is None \
            else (self.min_aspect != 1.0 or self.max_aspect != 1.0)
        self.affine = (self.max_angle > 0 or self.max_shear > 0 or self.rotate > 0
                       or self.max_scale != 1.0 or self.min_scale != 1.0 or aspect_on
                       or self.max_img != 1e10 or self.min_img != 0.0)
        if self.affine and self.inter != 1:
            raise MXNetError("ImageRecordIter: the rotation / shear / scale / aspect warp is "
                             "built for inter_method 1 (bilinear) only, got inter_method %d"
                             % self.inter)

    def _check(self):
        def fail(msg):
            raise MXNetError("ImageRecordIter: " + msg)
        if self.inter not in (0, 1, 2, 3, 4, 9, 10):
            fail("inter_method must be 0-4, 9 or 10, got %d" % self.inter)
        if self.max_angle < 0 or self.max_shear < 0 or self.pad < 0:
            fail("max_rotate_angle, max_shear_ratio and pad must not be negative")
        if min(self.brightness, self.contrast, self.saturation, self.pca_noise) < 0 \
                or min(self.hls) < 0:
            fail("brightness, contrast, saturation, pca_noise and random_h / random_s / "
                 "random_l must not be negative")
        if not 0 <= self.fill <= 255:
            fail("fill_value must be in 0..255, got %d" % self.fill)
        if not 0 < self.min_scale <= self.max_scale:
            fail("need 0 < min_random_scale <= max_random_scale, got %g and %g"
                 % (self.min_scale, self.max_scale))
        if self.min_aspect is not None and not 0 < self.min_aspect <= self.max_aspect:
            fail("need 0 < min_aspect_ratio <= max_aspect_ratio, got %g and %g"
                 % (self.min_aspect, self.max_aspect))
        if self.min_aspect is None and not 0 <= self.max_aspect < 1:
            fail("without min_aspect_ratio, max_aspect_ratio is in [0, 1), got %g"
                 % self.max_aspect)
        if self.rrc:
            if self.min_scale != 1.0 or self.max_scale != 1.0 or self.rand_crop \
                    or self.min_crop != -1 or self.max_crop != -1:
                fail("random_resized_crop excludes rand_crop, min/max_random_scale and "
                     "min/max_crop_size")
            if not 0 < self.min_area <= self.max_area <= 1:
                fail("need 0 < min_random_area <= max_random_area <= 1, got %g and %g"
                     % (self.min_area, self.max_area))
            if self.min_aspect is None and self.max_aspect != 0.0:
                fail("random_resized_crop with max_aspect_ratio needs min_aspect_ratio")
        if (self.min_crop == -1) != (self.max_crop == -1) or \
                (self.min_crop != -1 and not 0 < self.min_crop <= self.max_crop):
            fail("min_crop_size and max_crop_size are set together, 0 < min <= max; got "
                 "%d and %d" % (self.min_crop, self.max_crop))

    def _interp(self, draws, sizes):
        if self.inter == 10:
            return draws.randint(0, 4)
        return _get_interp_method(self.inter, sizes)

    def __call__(self, img, draws, where):
        if self.resize > 0:
            h, w = img.shape[:2]
            new_h, new_w = (self.resize * h // w, self.resize) if h > w \
                else (self.resize, self.resize * w // h)
            img = _resize(img, new_w, new_h, self._interp(draws, (h, w, new_h, new_w)))
        if self.affine:
            shear = self.max_shear * (draws.uniform() * 2 - 1)
            angle = draws.randint(-self.max_angle, self.max_angle)
            if self.rotate > 0:
                angle = self.rotate
            scale = ratio = 1.0
            if not self.rrc:
                scale = np.float32(draws.uniform()) * np.float32(
                    self.max_scale - self.min_scale) + np.float32(self.min_scale)
                if self.min_aspect is not None:
                    ratio = np.float32(draws.uniform()) * np.float32(
                        self.max_aspect - self.min_aspect) + np.float32(self.min_aspect)
                else:
                    ratio = np.float32(draws.uniform()) * np.float32(2 * self.max_aspect) \
                        - np.float32(self.max_aspect) + np.float32(1)
            h, w = img.shape[:2]
            mat, new_w, new_h = _affine_matrix(w, h, angle, shear, scale, ratio,
                                               self.min_img, self.max_img)
            if new_w <= 0 or new_h <= 0:
                raise MXNetError("ImageRecordIter: %s: the affine step leaves a %d x %d "
                                 "image" % (where, new_h, new_w))
            img = _warp_affine_u8(img, mat, new_w, new_h, self.fill)
        if self.pad > 0:
            img = np.pad(img, ((self.pad, self.pad), (self.pad, self.pad), (0, 0)),
                         constant_values=self.fill)
        img = self._crop(img, draws, where)
        if self.mirror or (self.rand_mirror and draws.uniform() < 0.5):
            img = img[:, ::-1]
        if any(self.hls):
            img = self._hls_jitter(img, draws)
        if self.brightness or self.contrast or self.saturation or self.pca_noise:
            img = self._colour_jitter(img, draws)
        return img

    def _hls_jitter(self, img, draws):
        """random_h / random_l / random_s: integers in [-v, v] added to OpenCV's 8-bit HLS
        channels (H clipped to [0, 180], L and S to [0, 255])."""
        if img.shape[2] != 3:
            return img
        hls = _rgb_to_hls_u8(img)
        for chan, (limit, top) in enumerate(zip(self.hls, (180, 255, 255))):
            delta = int(draws.uniform() * limit * 2 - limit)
            hls[..., chan] = np.clip(hls[..., chan] + delta, 0, top)
        return _hls_to_rgb_u8(hls)

    def _colour_jitter(self, img, draws):
        """brightness, contrast, saturation (in a random order; each a factor 1 + u, u
        uniform in [-v, v]: the image scaled, blended with its mean grey, blended with its
        per-pixel grey) and pca_noise (AlexNet's lighting: ImageNet's eigenvectors times
        eigenvalues times alpha ~ N(0, pca_noise) added), in float, rounded back to uint8."""
        x = img.astype(np.float32)
        # MXNet weighs its BGR image by (0.299, 0.587, 0.114): B by 0.299, R by 0.114
        coef = _GRAY_COEF[::-1].copy() if x.shape[2] == 3 else np.ones(1, np.float32)
        keys = [draws.uniform() for _ in range(3)]
        for step in np.argsort(keys, kind="stable"):
            if step == 0 and self.brightness:
                x = x * np.float32(1 + draws.uniform(-self.brightness, self.brightness))
            elif step == 1 and self.contrast:
                alpha = np.float32(1 + draws.uniform(-self.contrast, self.contrast))
                grey = np.float32((x @ coef).mean())
                x = x * alpha + grey * (1 - alpha)
            elif step == 2 and self.saturation and x.shape[2] == 3:
                alpha = np.float32(1 + draws.uniform(-self.saturation, self.saturation))
                grey = (x @ coef)[:, :, None]
                x = x * alpha + grey * (1 - alpha)
        if self.pca_noise and x.shape[2] == 3:
            # three normal draws by Box-Muller from six uniforms
            u = np.array([draws.uniform() for _ in range(6)])
            normal = np.sqrt(-2 * np.log(1 - u[:3])) * np.cos(2 * np.pi * u[3:])
            x = x + (_PCA_EIGVEC @ (normal * self.pca_noise * _PCA_EIGVAL)).astype(np.float32)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)

    def _crop(self, img, draws, where):
        out_h, out_w = self.out_h, self.out_w
        h, w = img.shape[:2]
        if self.max_crop == -1:
            # smaller than data_shape: enlarged (bilinear, keeping the aspect) to its height,
            # then to its width, the new side float32 out / old * other side, truncated
            f32 = np.float32
            if h < out_h:
                w = max(1, int(f32(out_h) / f32(h) * f32(w)))
                img, h = _resize(img, w, out_h, 1), out_h
            if w < out_w:
                h = max(1, int(f32(out_w) / f32(w) * f32(h)))
                img, w = _resize(img, out_w, h, 1), out_w
        if self.rrc:
            if self.max_area != 1.0 or self.min_area != 1.0 or self.max_aspect != 0.0 \
                    or self.min_aspect is not None:
                lo_ratio = np.log(self.min_aspect if self.min_aspect is not None else 1.0)
                hi_ratio = np.log(self.max_aspect if self.min_aspect is not None else 1.0)
                for _ in range(10):
                    area = draws.uniform(self.min_area, self.max_area) * h * w
                    ratio = np.exp(draws.uniform(lo_ratio, hi_ratio))
                    new_w = int(np.round(np.sqrt(area * ratio)))
                    new_h = int(np.round(np.sqrt(area / ratio)))
                    if new_w <= w and new_h <= h:
                        x0, y0 = draws.randint(0, w - new_w), draws.randint(0, h - new_h)
                        return _resize(img[y0:y0 + new_h, x0:x0 + new_w], out_w, out_h,
                                       self._interp(draws, (new_h, new_w, out_h, out_w)))
            y0, x0 = (h - out_h) // 2, (w - out_w) // 2
            return img[y0:y0 + out_h, x0:x0 + out_w]
        if self.max_crop != -1:
            side = draws.randint(self.min_crop, self.max_crop)
            if side > h or side > w:
                raise MXNetError("ImageRecordIter: %s: crop size %d is larger than the %d x "
                                 "%d image" % (where, side, h, w))
            if self.rand_crop:
                y0, x0 = draws.randint(0, h - side), draws.randint(0, w - side)
            else:
                y0, x0 = (h - side) // 2, (w - side) // 2
            return _resize(img[y0:y0 + side, x0:x0 + side], out_w, out_h,
                           self._interp(draws, (side, side, out_h, out_w)))
        if self.rand_crop:
            y0, x0 = draws.randint(0, h - out_h), draws.randint(0, w - out_w)
        else:
            y0, x0 = (h - out_h) // 2, (w - out_w) // 2
        return img[y0:y0 + out_h, x0:x0 + out_w]


class ImageRecordIterImpl(_io._NativeIter):  # pylint: disable=too-many-instance-attributes
    """MXNet's ImageRecordIter over a `.rec` file (mx.io.ImageRecordIter).

    Each image is decoded (data_shape[0] 3: RGB, 1: grey), augmented by MXNet's default
    augmenter (see `_DefaultAugmenter`: resize, rotation / shear / scale / aspect, pad,
    crop, mirror, colour) and written as (C, H, W) ``((pixel - mean) * contrast +
    illumination) / std_c * scale`` (contrast 1 and illumination 0 unless
    max_random_contrast / max_random_illumination draw them per image), the mean
    being mean_r/g/b or, with `mean_img`, a per-pixel mean image read from that file (MXNet's
    .nd format, key "mean_img"); a missing file is computed first, as MXNet does, as the
    mean of this part's outputs without a mean, and saved. A batch's index holds the
    records' header ids (`path_imglist` gives labels by header id). Records are split into
    `num_parts` parts as MXNet's input splits (by record count with an index file, by bytes
    without); `shuffle` reorders each epoch from `seed`; the random augmentations draw from
    `seed_aug` (default: `seed`) in record order, so a run is reproducible whatever
    `preprocess_threads` (the size of the decoding thread pool); round_batch as MXNet's
    (the wrapped records start the next epoch after them). `prefetch_buffer` batches are
    prepared ahead in a background thread.
    """

    def __init__(self, path_imgrec=None, data_shape=None, batch_size=None, path_imgidx="",
                 label_width=1, mean_r=0.0, mean_g=0.0, mean_b=0.0, mean_a=0.0, std_r=1.0,
                 std_g=1.0, std_b=1.0, std_a=1.0, scale=1.0, mean_img="", shuffle=False,
                 seed=0, round_batch=True, part_index=0, num_parts=1, preprocess_threads=4,
                 prefetch_buffer=4, dtype="float32", data_name="data",
                 label_name="softmax_label", verbose=True, seed_aug=None, path_imglist="",
                 max_random_contrast=0.0, max_random_illumination=0.0, **kwargs):
        aug_params = {k: kwargs.pop(k) for k in list(kwargs) if k in _AUG_DEFAULTS}
        if kwargs.get("aug_seq", "aug_default") != "aug_default":
            raise MXNetError("ImageRecordIter: aug_seq %r: only MXNet's 'aug_default' "
                             "augmenter is built" % (kwargs["aug_seq"],))
        ignored = sorted(k for k in kwargs if k not in ("ctx", "device_id", "aug_seq"))
        if ignored:
            raise MXNetError("ImageRecordIter: unsupported parameters %s" % ignored)
        if not path_imgrec:
            raise MXNetError("ImageRecordIter: path_imgrec is required")
        if data_shape is None or len(data_shape) != 3 or data_shape[0] not in (1, 3) \
                or min(data_shape) <= 0:
            raise MXNetError("ImageRecordIter: data_shape is (C, H, W) with C 1 or 3, got %s"
                             % (data_shape,))
        if batch_size is None or int(batch_size) <= 0:
            raise MXNetError("ImageRecordIter: batch_size must be positive, got %s"
                             % (batch_size,))
        if dtype is None:
            dtype = "float32"
        if dtype not in ("float32", "uint8"):
            raise MXNetError("ImageRecordIter: dtype must be 'float32' or 'uint8', got %r"
                             % (dtype,))
        if not 0 <= int(part_index) < int(num_parts):
            raise MXNetError("ImageRecordIter: part_index %s is not in 0..%d"
                             % (part_index, int(num_parts) - 1))
        super().__init__(int(batch_size))
        self.data_shape = tuple(int(x) for x in data_shape)
        chans = self.data_shape[0]
        self._aug = _DefaultAugmenter(self.data_shape[1], self.data_shape[2], aug_params)
        self._mean = np.array([mean_r, mean_g, mean_b][:chans] if chans == 3 else [mean_r],
                              np.float32).reshape(chans, 1, 1)
        self._std = np.array([std_r, std_g, std_b][:chans] if chans == 3 else [std_r],
                             np.float32).reshape(chans, 1, 1)
        if np.any(self._std == 0):
            raise MXNetError("ImageRecordIter: std_r / std_g / std_b must not be 0")
        self._scale = np.float32(scale)
        self._lut = (np.arange(256, dtype=np.float32)[None, :] - self._mean.reshape(chans, 1)) \
            / self._std.reshape(chans, 1) * self._scale
        if dtype == "uint8" and (np.any(self._mean != 0) or np.any(self._std != 1)
                                 or scale != 1 or mean_img):
            raise MXNetError("ImageRecordIter: dtype uint8 takes the pixels as they are; "
                             "mean, mean_img, std and scale need dtype float32")
        self._dtype = np.dtype(dtype)
        self._jitter = (float(max_random_contrast), float(max_random_illumination))
        if min(self._jitter) < 0 or (dtype == "uint8" and max(self._jitter) > 0):
            raise MXNetError("ImageRecordIter: max_random_contrast and max_random_illumination "
                             "are >= 0 and need dtype float32; got %g and %g"
                             % self._jitter)
        self.label_width = int(label_width)
        self._round_batch, self._shuffle = bool(round_batch), bool(shuffle)
        self._rng = np.random.RandomState(int(seed))
        self._aug_rng = np.random.RandomState(int(seed if seed_aug is None else seed_aug))
        self._threads = max(1, int(preprocess_threads))
        self._prefetch = max(0, int(prefetch_buffer))
        self._pool = None
        self._path = path_imgrec
        self._reader = recordio.MXRecordIO(path_imgrec, "r")
        self._list_labels = None
        if path_imglist:  # labels by the records' header id, as MXNet's image list
            self._list_labels = {}
            with open(path_imglist) as fin:
                for lineno, line in enumerate(fin, 1):
                    fields = line.strip().split("\t")
                    if fields == [""]:
                        continue
                    try:
                        if len(fields) < 3:
                            raise ValueError("expected index<TAB>label...<TAB>path")
                        self._list_labels[int(fields[0])] = np.array(
                            [float(x) for x in fields[1:-1]], np.float32)
                    except ValueError as err:
                        raise MXNetError("ImageRecordIter: %s line %d: %s"
                                         % (path_imglist, lineno, err)) from None
        self._offsets = self._part_offsets(self._record_offsets(path_imgidx), path_imgidx,
                                           int(part_index), int(num_parts))
        if not self._offsets:
            raise MXNetError("ImageRecordIter: %s part %d of %d holds no records"
                             % (path_imgrec, part_index, num_parts))
        self._order = np.arange(len(self._offsets))
        if self._shuffle:
            self._rng.shuffle(self._order)
        self._pos = 0
        self._num_overflow = 0
        self._current = None
        self._queue = None
        self._label_shape = (self.batch_size, self.label_width) if self.label_width > 1 \
            else (self.batch_size,)
        self.provide_data = [_io.DataDesc(data_name, (self.batch_size,) + self.data_shape,
                                          self._dtype)]
        self.provide_label = [_io.DataDesc(label_name, self._label_shape)]
        self._mean_img = None
        if mean_img:
            self._mean_img = self._load_or_make_mean(str(mean_img))
        if verbose:
            _LOG.info("ImageRecordIter: %s, %d records (part %d of %d), %d threads",
                      path_imgrec, len(self._offsets), part_index, num_parts, self._threads)

    def _load_or_make_mean(self, path):
        from . import ndarray as _ndarray
        if not os.path.exists(path):
            _LOG.info("ImageRecordIter: %s is missing: computing the mean image", path)
            total = np.zeros(self.data_shape, np.float64)
            state = self._aug_rng.get_state()  # the first epoch draws as without it
            for start in range(0, len(self._offsets), 256):  # a chunk of records at a time
                picks = range(start, min(start + 256, len(self._offsets)))
                for job in self._jobs(picks):
                    total += self._normalize(self._process(job)[0][None])[0]
            mean = (total / len(self._offsets)).astype(np.float32)
            _ndarray.save(path, {"mean_img": _nd(mean)})
            self._aug_rng.set_state(state)
            return mean
        try:
            loaded = _ndarray.load(path)
        except MXNetError as err:
            raise MXNetError("ImageRecordIter: mean_img %s: %s" % (path, err)) from None
        if not isinstance(loaded, dict) or "mean_img" not in loaded:
            raise MXNetError("ImageRecordIter: mean_img %s holds no array named 'mean_img'"
                             % path)
        mean = loaded["mean_img"].asnumpy().astype(np.float32)
        if mean.shape != self.data_shape:
            raise MXNetError("ImageRecordIter: mean_img %s has shape %s, data_shape is %s"
                             % (path, mean.shape, self.data_shape))
        return mean

    def _record_offsets(self, path_imgidx):
        if path_imgidx:
            indexed = recordio.MXIndexedRecordIO(path_imgidx, self._path, "r")
            offsets = [indexed.idx[k] for k in indexed.keys]
            indexed.close()
            return sorted(offsets)
        offsets = []
        while True:  # one pass over the headers: every record is checked here
            pos = self._reader.tell()
            if not self._reader._skip():  # pylint: disable=protected-access
                break
            offsets.append(pos)
        return offsets

    def _part_offsets(self, offsets, path_imgidx, part_index, num_parts):
        """The records of part `part_index` as MXNet's input splits cut them: with an index,
        ceil(n / num_parts) records a part; without one, the file's bytes in num_parts
        4-byte-aligned ranges, a record belonging to the range its header starts in."""
        if path_imgidx:
            step = -(-len(offsets) // num_parts)
            return offsets[step * part_index:step * (part_index + 1)]
        total = os.path.getsize(self._path)
        step = (-(-total // num_parts) + 3) // 4 * 4
        lo, hi = step * part_index, step * (part_index + 1)
        return [off for off in offsets if lo <= off < hi]

    def __del__(self):
        if getattr(self, "_queue", None) is not None:
            self._queue[1].set()
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)

    # -- the batches, in order ------------------------------------------------------------

    def _plan(self):
        """The next batch's record numbers and pad, advancing the epoch state; None at the
        end of the epoch."""
        if self._num_overflow != 0:
            return None
        total = len(self._offsets)
        picks = []
        while self._pos < total and len(picks) < self.batch_size:
            picks.append(self._order[self._pos])
            self._pos += 1
        if not picks:
            return None
        pad = 0
        if len(picks) < self.batch_size:
            if self._round_batch:
                self._pos = 0
                while len(picks) < self.batch_size:
                    if self._pos >= total:
                        raise MXNetError("ImageRecordIter: %s holds %d records, fewer than "
                                         "batch_size %d" % (self._path, total, self.batch_size))
                    picks.append(self._order[self._pos])
                    self._pos += 1
                    self._num_overflow += 1
                pad = self._num_overflow
            else:
                pad = self.batch_size - len(picks)
        return picks, pad

    def _epoch_end(self):
        """What reset() does to the epoch state."""
        if not self._round_batch or self._num_overflow == 0:
            self._pos = 0
            if self._shuffle:
                self._rng.shuffle(self._order)
        else:
            self._num_overflow = 0

    def _jobs(self, picks):
        """(offset, record bytes, random draws) of each record: read here, in order."""
        draws = self._aug_rng.random_sample((len(picks), _DRAWS_PER_RECORD))
        jobs = []
        for row, record in enumerate(picks):
            offset = self._offsets[record]
            self._reader._seek(offset)  # pylint: disable=protected-access
            jobs.append((offset, self._reader.read(), draws[row]))
        return jobs

    def _normalize(self, pixels):
        """Batch rows of (C, H, W) uint8 pixels as the output dtype: (pixel - mean) / std *
        scale in float32 (by a lookup table of the same values for per-channel means)."""
        if self._dtype == np.uint8:
            return pixels
        if self._mean_img is not None:
            return (pixels.astype(np.float32) - self._mean_img) / self._std * self._scale
        out = np.empty(pixels.shape, np.float32)
        for row in range(pixels.shape[0]):  # contiguous planes: the fastest np.take
            for chan in range(self.data_shape[0]):
                np.take(self._lut[chan], pixels[row, chan], out=out[row, chan])
        return out

    def _process(self, job, out=None):
        """Writes one record's (C, H, W) uint8 pixels into `out` (a new array when None);
        returns (pixels, label, header id)."""
        offset, raw, draws = job
        where = "%s record at offset %d" % (self._path, offset)
        try:
            header, payload = recordio.unpack(raw)
            img = _decode_rgb(payload, 1 if self.data_shape[0] == 3 else 0, "ImageRecordIter")
        except MXNetError as err:
            raise MXNetError("ImageRecordIter: %s: %s" % (where, err)) from None
        img = self._aug(img, _Draws(draws), where)
        if out is None:
            out = np.empty(self.data_shape, np.uint8)
        out[...] = np.transpose(img, (2, 0, 1))
        if self._list_labels is None:
            label = np.asarray(header.label, np.float32).ravel()
        elif header.id in self._list_labels:
            label = self._list_labels[header.id]
        else:
            raise MXNetError("ImageRecordIter: %s has id %d, which the image list lacks"
                             % (where, header.id))
        if label.size < self.label_width:
            raise MXNetError("ImageRecordIter: %s has %d labels, label_width is %d"
                             % (where, label.size, self.label_width))
        return out, label[:self.label_width], header.id

    def _process_rows(self, jobs, data, start):
        return [self._process(job, data[start + k]) for k, job in enumerate(jobs)]

    def _make_batch(self, picks, pad):
        jobs = self._jobs(picks)
        data = np.zeros((self.batch_size,) + self.data_shape, np.uint8)
        if self._threads > 1 and len(jobs) > 1:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor
                self._pool = ThreadPoolExecutor(self._threads - 1)
            # one contiguous slice of the batch a thread (decoding releases the GIL); this
            # thread does the first slice itself
            bounds = np.linspace(0, len(jobs), min(self._threads, len(jobs)) + 1).astype(int)
            futures = [self._pool.submit(self._process_rows, jobs[lo:hi], data, lo)
                       for lo, hi in zip(bounds[1:-1], bounds[2:])]
            results = self._process_rows(jobs[:bounds[1]], data, 0)
            results += [row for fut in futures for row in fut.result()]
        else:
            results = self._process_rows(jobs, data, 0)
        label = np.zeros(self._label_shape, np.float32)
        ids = np.zeros(self.batch_size, np.uint64)
        for top, (_, lab, ident) in enumerate(results):
            ids[top] = ident
            label[top] = lab if self.label_width > 1 else lab[0]
        data = self._normalize(data)
        if max(self._jitter):
            # MXNet's ((pixel - mean) * contrast + illumination) * scale / std, contrast 1 + u
            # and illumination u, u uniform in [-max, max], per image (the draws' last two)
            for top, job in enumerate(jobs):
                u_contrast, u_illum = job[2][-2:]
                contrast = np.float32(1 + self._jitter[0] * (2 * u_contrast - 1))
                illum = np.float32(self._jitter[1] * (2 * u_illum - 1))
                data[top] = data[top] * contrast + illum * self._scale / self._std
        if len(results) < self.batch_size:  # rows a short last batch leaves empty are zero
            data[len(results):] = 0
        return _nd(data), _nd(label), pad, ids

    # -- prefetching: a thread runs ahead by up to prefetch_buffer batches -----------------

    def _state(self):
        return self._pos, self._num_overflow, self._aug_rng.get_state()

    def _set_state(self, state):
        self._pos, self._num_overflow = state[0], state[1]
        self._aug_rng.set_state(state[2])

    @staticmethod
    def _producer(ref, queue, stop):
        """Plans and makes batches into `queue` with the state after each; holds the
        iterator only by weak reference while it waits, so that it can be collected."""
        import queue as _queue
        while not stop.is_set():
            it = ref()
            if it is None:
                return
            try:
                plan = it._plan()  # pylint: disable=protected-access
                item = None if plan is None else it._make_batch(*plan)  # pylint: disable=protected-access
                item = (item, it._state())  # pylint: disable=protected-access
            except BaseException as err:  # pylint: disable=broad-except
                item = (err, None)
            del it
            while not stop.is_set():
                try:
                    queue.put(item, timeout=0.1)
                    break
                except _queue.Full:
                    pass
            if item[0] is None or item[1] is None:
                return

    def _start_prefetch(self):
        import queue as _queue
        import threading
        import weakref
        stop = threading.Event()
        q = _queue.Queue(self._prefetch)
        thread = threading.Thread(target=ImageRecordIterImpl._producer,
                                  args=(weakref.ref(self), q, stop), daemon=True,
                                  name="mxc-ImageRecordIter")
        self._consumed_state = self._state()
        self._queue = (q, stop, thread)
        thread.start()

    def _stop_prefetch(self):
        """Stops the producer and puts back the state after the last batch handed out."""
        if self._queue is None:
            return
        _, stop, thread = self._queue
        stop.set()
        thread.join()
        self._queue = None
        self._set_state(self._consumed_state)

    def reset(self):
        self._stop_prefetch()
        self._epoch_end()

    def iter_next(self):
        if self._prefetch == 0:
            plan = self._plan()
            if plan is None:
                return False
            self._current = self._make_batch(*plan)
            return True
        if self._queue is None:
            self._start_prefetch()
        item, state = self._queue[0].get()
        if state is None:  # the producer failed: its error, from the state before it
            self._stop_prefetch()
            raise item
        self._consumed_state = state
        if item is None:
            self._current = None
            return False
        self._current = item
        return True
