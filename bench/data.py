"""The benchmark data: the letters CSV and MNIST (gzip IDX), found under the shared folder."""
import gzip
import os
import pathlib

import numpy as np

_REPO = pathlib.Path(__file__).resolve().parent.parent


def shared_dir():
    """Shared data folder: env MXC_SHARED, else ../shared or ./shared next to the repository."""
    cands = []
    if os.environ.get("MXC_SHARED"):
        cands.append(pathlib.Path(os.environ["MXC_SHARED"]))
    cands += [_REPO.parent / "shared", _REPO / "shared"]
    for c in cands:
        if (c / "data").is_dir():
            return c
    raise FileNotFoundError("shared data folder not found (set MXC_SHARED); tried %s"
                            % ", ".join(map(str, cands)))


def letters():
    """(data float32 [20000,16], label float32) as in the MXNet Module tutorial."""
    path = shared_dir() / "data" / "letter-recognition.data"
    # NumPy's C parser: the loading itself stays small, so peak memory shows each system's run
    table = np.loadtxt(path, delimiter=",", dtype=np.float32,
                       converters={0: lambda s: ord(s.strip()[0]) - ord("A")})
    return np.ascontiguousarray(table[:, 1:]), np.ascontiguousarray(table[:, 0])


def _idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist(split="train", limit=None):
    """(images float32 [n,1,28,28] scaled to [0,1), labels float32)."""
    base = shared_dir() / "data" / "mnist"
    prefix = "train" if split == "train" else "t10k"
    images = _idx(base / ("%s-images-idx3-ubyte.gz" % prefix))
    labels = _idx(base / ("%s-labels-idx1-ubyte.gz" % prefix))
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32).reshape(-1, 1, 28, 28) * np.float32(1 / 256)
    return x, labels.astype(np.float32)
