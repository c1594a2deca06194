"""Write the seed corpus of the C reader harnesses (tools/fuzz/corpus/{params,data}).

    python tools/fuzz/make_corpus.py [CORPUS_DIR]

The seeds are well-formed and malformed inputs for the model of build_model.py (the weights'
names and shapes are taken from its graph): every record layout of .params files (V1, V2, V3,
legacy, "none" arrays), the same weight twice, names outside the graph, counts and dimensions
far beyond the file; CSV, IDX and raw data with the shapes of the graph and with sizes that
disagree with their headers. The data harness reads its first byte as the reader to use.
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROW = 4                                                    # values a row (build_model.ROW)
# the weights of build_model.model(): (name, is_aux, shape)
WEIGHTS = [("conv_weight", False, (2, 1, 1, 1)), ("conv_bias", False, (2,)),
           ("bn_gamma", False, (2,)), ("bn_beta", False, (2,)), ("fc_weight", False, (3, 8)),
           ("fc_bias", False, (3,)), ("bn_moving_mean", True, (2,)),
           ("bn_moving_var", True, (2,))]
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


# ---- .params ----------------------------------------------------------------------------
def record(shape, layout=V2, dtype=0, values=None):
    """One array record; values default to 0, 0.25, 0.5, ... in the dtype's bytes."""
    n = int(np.prod(shape)) if shape else 0
    data = values if values is not None else (np.arange(n) / 4.0)
    if layout == "legacy":
        head = struct.pack("<I%dI" % len(shape), len(shape), *shape)
    elif layout == V1:
        head = struct.pack("<Ii%dq" % len(shape), V1, len(shape), *shape)
    else:
        head = struct.pack("<Iii%dq" % len(shape), layout, 0, len(shape), *shape)
    if not shape:
        return head
    kind = {0: "<f4", 1: "<f8", 3: "u1", 4: "<i4"}[dtype]
    return head + struct.pack("<ii", 1, 0) + struct.pack("<i", dtype) + \
        np.asarray(data).astype(kind).tobytes()


def params_file(entries, count=None, names=None):
    """entries: [(key, record bytes)]; count / names override the header's numbers."""
    out = [struct.pack("<QQQ", 0x112, 0, len(entries) if count is None else count)]
    out += [rec for _, rec in entries]
    keys = [k for k, _ in entries] if names is None else names
    out.append(struct.pack("<Q", len(keys)))
    for k in keys:
        raw = k.encode("utf-8") if isinstance(k, str) else k
        out.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(out)


def key(name, aux):
    return ("aux:" if aux else "arg:") + name


def all_weights(layout=V2):
    return [(key(n, a), record(s, layout)) for n, a, s in WEIGHTS]


def params_seeds():
    good = all_weights()
    fc = [e for e in good if e[0] == "arg:fc_weight"][0]
    seeds = {
        "v2.params": params_file(good),
        "v1.params": params_file(all_weights(V1)),
        "v3.params": params_file(all_weights(V3)),
        "legacy.params": params_file(all_weights("legacy")),
        "dup_extra.params": params_file(good + [fc]),                 # 9 arrays, fc_weight twice
        "dup_replaces.params": params_file(good[:1] + [good[0]] + good[2:]),
        "not_in_graph.params": params_file(good[:-1] + [("arg:lenet_w", record((2,)))]),
        "aux_as_arg.params": params_file(good[:-1] + [("arg:bn_moving_var", record((2,)))]),
        "wrong_shape.params": params_file(good[:4] + [("arg:fc_weight", record((8, 3)))]
                                          + good[5:]),
        "float64.params": params_file(good[:5] + [("arg:fc_bias", record((3,), dtype=1))]
                                      + good[6:]),
        "none_array.params": params_file(good[:5] + [("arg:fc_bias", record(()))] + good[6:]),
        "nul_name.params": params_file(good, names=[k for k, _ in good[:-1]]
                                       + [b"aux:bn_moving_var\0x"]),
        "names_mismatch.params": params_file(good, names=[k for k, _ in good[:-1]]),
        "huge_count.params": struct.pack("<QQQ", 0x112, 0, 10 ** 12),
        "huge_dims.params": params_file([("arg:fc_weight", record((10 ** 6, 10 ** 6),
                                                                  values=[]))]),
        "truncated.params": params_file(good)[:100],
        "empty.params": params_file([]),
    }
    return seeds


# ---- data -------------------------------------------------------------------------------
def raw(shape, values):
    return b"MXCF32\n\0" + struct.pack("<I%dQ" % len(shape), len(shape), *shape) + \
        np.asarray(values, "<f4").tobytes()


def idx_images(n, rows=2, cols=2, extra=b""):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes(i % 256 for i in range(n * rows * cols)) + extra


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 3 for i in range(n))


def pair(tag, first, second):
    return tag + struct.pack("<I", len(first)) + first + second


def data_seeds():
    rows = np.arange(3 * ROW, dtype=np.float32).reshape(3, ROW) / 8
    return {
        "csv_numbers": b"c\x00" + b"0,1.5,2,3,4\n1,-1e-3,0x1p2,5,6\r\n\n2,7,8,9,10\n",
        "csv_letters_last": b"c\x04" + b"1,2,3,4,A\n5,6,7,8,z\n",
        "csv_bad_field": b"c\x00" + b"0,1,two,3,4\n",
        "csv_too_many": b"c\x00" + b"0,1,2,3,4,5,6\n",
        "csv_nan_label": b"c\x00" + b"nan,1,2,3,4\n",
        "csv_nul": b"c\x00" + b"0,1,2\x003,4\n",
        "csv_long_line": b"c\x00" + b"0," + b"1" * 5000 + b",2,3,4\n",
        "idx_ok": pair(b"i", idx_images(3), idx_labels(3)),
        "idx_longer_than_header": pair(b"i", idx_images(3, extra=b"\x01\x02"), idx_labels(3)),
        "idx_count_mismatch": pair(b"i", idx_images(3), idx_labels(2)),
        "idx_huge_count": pair(b"i", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 2, 2), idx_labels(1)),
        "idx_gzip": pair(b"i", b"\x1f\x8b\x08\x00" + bytes(12), idx_labels(1)),
        "raw_ok": pair(b"r", raw((3, ROW), rows.ravel()), raw((3,), [0, 1, 2])),
        "raw_3d": pair(b"r", raw((3, 2, 2), rows.ravel()), raw((3, 1), [0, 1, 2])),
        "raw_short": pair(b"r", raw((3, ROW), rows.ravel()[:-1]), raw((3,), [0, 1, 2])),
        # sizes whose byte count wraps around 2^64: 4 * (2^62 + 1) = 4 (mod 2^64)
        "raw_wraps": pair(b"r", raw((2 ** 62 + 1, ROW), rows.ravel()[:ROW]),
                          raw((2 ** 62 + 1,), [0])),
        # dimensions under the limit whose product is 2^64 + 1 = 274177 * 67280421310721
        "raw_product_wraps": pair(b"r", raw((274177, 67280421310721), [1]), raw((274177,), [0])),
        "raw_zero_dim": pair(b"r", raw((2 ** 48, 0), []), raw((0,), [])),
        "raw_many_dims": pair(b"r", raw((1,) * 9, [1]), raw((1,), [0])),
        "args_int": b"a12",
        "args_range": b"a10:20",
        "args_real": b"a-1.5e-3",
        "args_overflow": b"a99999999999999999999999",
    }


def write(corpus_dir):
    for sub, seeds in (("params", params_seeds()), ("data", data_seeds())):
        folder = os.path.join(corpus_dir, sub)
        os.makedirs(folder, exist_ok=True)
        for fname, blob in seeds.items():
            with open(os.path.join(folder, fname), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"))
