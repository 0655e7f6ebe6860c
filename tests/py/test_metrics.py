"""Classification metrics against scikit-learn (classification_report, confusion_matrix,
top_k_accuracy_score, log_loss) on the same predictions."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from sklearn.metrics import classification_report, confusion_matrix, log_loss, top_k_accuracy_score
except ImportError as e:
    print(f"skip metrics parity: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
rng = np.random.default_rng(5)
tmp = tempfile.mkdtemp()
failures = 0


def check(ok, name):
    global failures
    print(("ok " if ok else "not ok ") + name)
    failures += 0 if ok else 1


cases = [("10 classes, 300 samples", 300, 10, 1.5), ("3 classes, one never predicted, one absent", 40, 3, 0.0),
         ("2 classes", 25, 2, 3.0)]
for name, n, k, sharp in cases:
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k)).astype(np.float32)
    z[np.arange(n), y] += sharp
    if "never" in name:
        z[:, 2] -= 100  # class 2 never predicted
        y[y == 1] = 0   # class 1 has no samples
    np.save(os.path.join(tmp, "z.npy"), z)
    np.save(os.path.join(tmp, "y.npy"), y.astype(np.int64))
    topk = min(3, k - 1)
    out = subprocess.run([os.path.join(DRIVERS, "metrics"), os.path.join(tmp, "z.npy"), os.path.join(tmp, "y.npy"), str(topk)],
                         check=True, capture_output=True, text=True).stdout
    m = json.loads(out)
    pred = z.argmax(1)
    labels = list(range(k))
    rep = classification_report(y, pred, labels=labels, output_dict=True, zero_division=0)
    cm = confusion_matrix(y, pred, labels=labels)
    p = np.exp(z.astype(np.float64) - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    parts = {}
    parts["accuracy"] = abs(m["accuracy"] - (pred == y).mean()) < 1e-12
    # the loss is PyTorch's cross_entropy (exact log-softmax); sklearn's log_loss clips probabilities at
    # machine epsilon, so it is the reference only where no true-class probability is that small
    zz = z.astype(np.float64)
    exact = -(zz[np.arange(n), y] - zz.max(1) - np.log(np.exp(zz - zz.max(1, keepdims=True)).sum(1))).mean()
    parts["loss"] = abs(m["loss"] - exact) < 1e-9
    if p[np.arange(n), y].min() > 1e-12:
        parts["loss vs log_loss"] = abs(m["loss"] - log_loss(y, p, labels=labels)) < 1e-9
    ref_topk = top_k_accuracy_score(y, z, k=topk, labels=labels) if k > 2 else (pred == y).mean()
    parts["topk"] = abs(m[f"top{topk}_accuracy"] - ref_topk) < 1e-12
    ok = True
    for c in range(k):
        r = rep[str(c)]
        pc = m["per_class"][c]
        ok &= all(abs(pc[a] - r[b]) < 1e-12 for a, b in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")))
        ok &= pc["support"] == r["support"]
    for ours, theirs in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        ok &= all(abs(m[ours][a] - rep[theirs][b]) < 1e-12 for a, b in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")))
    parts["per-class and averages"] = ok
    parts["confusion"] = np.array_equal(np.array(m["confusion_matrix"]), cm)
    bad = [k_ for k_, v in parts.items() if not v]
    check(not bad, f"metrics equal scikit-learn's: {name}" + (f" (differ: {bad})" if bad else ""))
sys.exit(1 if failures else 0)
