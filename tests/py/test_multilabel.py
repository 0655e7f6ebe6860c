"""cnntrain --multilabel against PyTorch and scikit-learn, end to end.

A small multi-label data set is made with numpy ((N, 1, 32, 32); 4 classes, class c a horizontal band at
rows 3+7c, each sample holding 0 to 3 of them; uint8 targets for training, float32 for validation),
cnntrain --multilabel trains the baseline on it, and then the checkpoint, loaded into
tests/ref/baseline.py's BaselineCNN (strict), gives in PyTorch's eval mode:
  - the history's val_loss at the checkpoint's epoch: F.binary_cross_entropy_with_logits (mean) on the
    validation split, to 1e-5;
  - the history's val_map there: scikit-learn's average_precision_score(average="macro") of those logits,
    to 1e-6 (the logits agree to float32 rounding, so the ranking, and the AP, match);
  - the checkpoint's 'best' (val_loss monitored) equal to that history value;
and with --pos-weight balanced --monitor val_map the metadata records both and 'best' is the val_map.
Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why"; exits 0 unless a check failed.
Environment: BIN (the tools; default build/bin)."""
import json
import os
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from safetensors import safe_open
    from safetensors.torch import load_file
    from sklearn.metrics import average_precision_score
    from tests.ref.baseline import BaselineCNN
except ImportError as e:
    print(f"skip test_multilabel: {e}")
    sys.exit(0)

BIN = os.environ.get("BIN", "build/bin")
if not os.access(os.path.join(BIN, "cnntrain"), os.X_OK):
    print(f"skip test_multilabel: no cnntrain in {BIN}")
    sys.exit(0)
import report  # noqa: E402
from report import check, notok  # noqa: E402

torch.set_num_threads(1)
tmp = tempfile.mkdtemp()
P = lambda name: os.path.join(tmp, name)  # noqa: E731
K, FB, T = 4, 32, 32


def make_split(name, n, seed, dtype):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, K)) < 0.4).astype(np.uint8)
    y[0], y[1] = 1, 0  # every class has positives and negatives
    x = rng.standard_normal((n, 1, FB, T)).astype(np.float32)
    for i in range(n):
        for c in range(K):
            if y[i, c]:
                x[i, 0, 3 + 7 * c: 6 + 7 * c, :] += 2.5
    x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-6)
    np.save(P(f"{name}.npy"), x.astype(np.float32))
    np.save(P(f"{name}-labels.npy"), y.astype(dtype))
    return x.astype(np.float32), y


def run(*args):
    r = subprocess.run([os.path.join(BIN, "cnntrain"), *args], capture_output=True, text=True)
    if r.returncode != 0:
        notok("cnntrain " + " ".join(args[:3]), f"exit {r.returncode}: {r.stderr.strip()[:300]}")
        sys.exit(1)


make_split("train", 40, 1, np.uint8)
xv, yv = make_split("val", 16, 2, np.float32)
common = ["-q", "--multilabel", "--threads", "1", "--batch", "8", "--train", P("train.npy"), "--val", P("val.npy")]


def pytorch_val(ckpt):
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    model = BaselineCNN(int(meta["n_classes"]))
    model.load_state_dict(load_file(ckpt))
    model.eval()
    with torch.no_grad():
        z = model(torch.from_numpy(xv))
    loss = float(F.binary_cross_entropy_with_logits(z.double(), torch.from_numpy(yv).double()))
    ap = float(average_precision_score(yv, z.double().numpy(), average="macro"))
    return meta, loss, ap


run(*common, "--epochs", "5", "-o", P("ml.safetensors"), "--history", P("ml"))
meta, loss, ap = pytorch_val(P("ml.safetensors"))
hist = json.load(open(P("ml.json")))
row = hist[int(meta["epoch"]) - 1]
check("history keys: epoch, train_loss, train_map, val_loss, val_map, lr, seconds",
      list(row) == ["epoch", "train_loss", "train_map", "val_loss", "val_map", "lr", "seconds"], str(list(row)))
check(f"val_loss at the checkpoint's epoch = PyTorch's binary_cross_entropy_with_logits (err {abs(row['val_loss'] - loss):.1e})",
      abs(row["val_loss"] - loss) < 1e-5, f"{row['val_loss']} vs {loss}")
check(f"val_map there = scikit-learn's macro average_precision_score of PyTorch's logits (err {abs(row['val_map'] - ap):.1e})",
      abs(row["val_map"] - ap) < 1e-6, f"{row['val_map']} vs {ap}")
check("metadata: multilabel 1, monitor val_loss, best = that val_loss",
      meta.get("multilabel") == "1" and meta["monitor"] == "val_loss" and abs(float(meta["best"]) - row["val_loss"]) < 1e-12,
      str({k: meta.get(k) for k in ("multilabel", "monitor", "best")}))

run(*common, "--epochs", "4", "--pos-weight", "balanced", "--monitor", "val_map", "-o", P("mlp.safetensors"), "--history", P("mlp"))
meta, loss, ap = pytorch_val(P("mlp.safetensors"))
row = json.load(open(P("mlp.json")))[int(meta["epoch"]) - 1]
check("--pos-weight balanced --monitor val_map: recorded, best = the val_map of PyTorch's logits",
      meta["monitor"] == "val_map" and meta["training"].endswith("multilabel=1 pos_weight=balanced")
      and abs(float(meta["best"]) - row["val_map"]) < 1e-12 and abs(row["val_map"] - ap) < 1e-6 and abs(row["val_loss"] - loss) < 1e-5,
      f"{meta['monitor']} {meta['training'][-40:]} best {meta['best']} vs {ap}")
subprocess.run(["rm", "-rf", tmp])
sys.exit(1 if report.failures else 0)
