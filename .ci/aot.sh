#!/usr/bin/env bash
# Ahead-of-time builds: export MXNet checkpoints with the CLI, build with make, run self-checks;
# train the letters MLP for 2 epochs with the exported trainer and score its checkpoint.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${MXC_SHARED:-$REPO/../shared}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
M="$SHARED/mxnet"

python -m mxc build "$M/mx_mlp-symbol.json" --params "$M/mx_mlp-0003.params" \
    --shape data=16,16 --out mlp --name mlp
make -s -C mlp && make -s -C mlp check

python -m mxc build "$M/lenet-symbol.json" --params "$M/lenet-0001.params" \
    --shape data=8,1,28,28 --out lenet --name lenet
make -s -C lenet && make -s -C lenet check

python -m mxc build "$M/mx_mlp-symbol.json" --params "$M/mx_mlp-0003.params" \
    --shape data=32,16 --shape softmax_label=32 --trainer --lr 0.1 --out trainer --name tut
make -s -C trainer
DATA="$SHARED/data/letter-recognition.data"
(cd trainer && ./tut_train --train "$DATA" --train-rows 0:16000 --val "$DATA" \
    --val-rows 16000:20000 --params tut.params --epochs 2 --seed 1 --prefix letters)
python - "$WORK/trainer/letters" "$DATA" <<'PY'
import sys
import numpy as np
import mxc as mx
prefix, data = sys.argv[1], sys.argv[2]
rows = [l.strip().split(",") for l in open(data) if l.strip()]
y = np.array([ord(r[0]) - 65 for r in rows], np.float32)
x = np.array([[float(v) for v in r[1:]] for r in rows], np.float32)
mod = mx.mod.Module.load(prefix, 2)
val = mx.io.NDArrayIter(x[16000:], y[16000:], batch_size=32)
mod.bind(data_shapes=val.provide_data, label_shapes=val.provide_label, for_training=False)
acc = dict(mod.score(val, "acc"))["accuracy"]
print("aot: trainer checkpoint scores validation accuracy %.4f in Python" % acc)
assert acc > 0.5, acc
PY
echo "aot: ok"
