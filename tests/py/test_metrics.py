"""Classification metrics against scikit-learn (classification_report, confusion_matrix,
top_k_accuracy_score, log_loss) on the same predictions; multi-label metrics (average_precision_score,
roc_auc_score, f1_score at a threshold, the best-F1 threshold per class from precision_recall_curve)
on random and tied scores, to 1e-12."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from sklearn.metrics import (average_precision_score, classification_report, confusion_matrix, f1_score, log_loss,
                                 precision_recall_curve, precision_score, recall_score, roc_auc_score, top_k_accuracy_score)
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

# ---- multi-label: per class and averaged, NaN (JSON null) where sklearn raises ----------------------------
import warnings
from fractions import Fraction

warnings.filterwarnings("ignore")  # sklearn's "No positive class found" (AP 0, as ours)


def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-12)


def ref_best(y, s):
    """The threshold of highest F1 (s >= t positive), lowest on ties, by exact fractions."""
    if y.sum() == 0:
        return None, 0.0
    _, _, th = precision_recall_curve(y, s)
    best, bt = None, None
    for t in th:  # increasing
        pred = s >= t
        tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
        f = Fraction(2 * tp, tp + fp + int(y.sum()))
        if best is None or f > best:
            best, bt = f, t
    return float(bt), float(f1_score(y, s >= bt, zero_division=0))


mcases = [("random scores, 200 x 6", 200, 6, None), ("tied scores (rounded to 0.1), 120 x 5", 120, 5, 0.1),
          ("few distinct scores (4 levels) and a class without positives, one without negatives", 60, 4, "levels")]
for name, n, k, tie in mcases:
    y = (rng.random((n, k)) < rng.uniform(0.15, 0.6, k)).astype(np.uint8)
    s = (rng.standard_normal((n, k)) + 1.2 * y).astype(np.float32)
    if tie == 0.1:
        s = (np.round(s / 0.1) * 0.1).astype(np.float32)
    elif tie == "levels":
        s = rng.integers(0, 4, (n, k)).astype(np.float32) + y * rng.integers(0, 2, (n, k))
        y[:, 1] = 0
        y[:, 2] = 1
    s64 = s.astype(np.float64)
    thr = 0.5
    np.save(os.path.join(tmp, "s.npy"), s)
    np.save(os.path.join(tmp, "t.npy"), y)
    out = subprocess.run([os.path.join(DRIVERS, "metrics"), "multi", os.path.join(tmp, "s.npy"), os.path.join(tmp, "t.npy"),
                          str(thr)], check=True, capture_output=True, text=True).stdout
    m = json.loads(out)
    bad = []
    aps, aucs = [], []
    for c in range(k):
        pc, yc, sc = m["per_class"][c], y[:, c], s64[:, c]
        ap = float(average_precision_score(yc, sc))
        auc = float(roc_auc_score(yc, sc)) if 0 < yc.sum() < n else None  # sklearn raises: one class present
        aps.append(ap)
        aucs += [auc] if auc is not None else []
        pred = sc >= thr
        want = {"average_precision": ap, "roc_auc": auc, "support": int(yc.sum()),
                "precision": float(precision_score(yc, pred, zero_division=0)),
                "recall": float(recall_score(yc, pred, zero_division=0)), "f1": float(f1_score(yc, pred, zero_division=0))}
        want["best_threshold"], want["best_f1"] = ref_best(yc, sc)
        for key, v in want.items():
            if not close(pc[key], v):
                bad.append(f"class {c} {key}: {pc[key]} vs {v}")
    want = {("macro_avg", "average_precision"): float(average_precision_score(y, s64, average="macro")),
            ("micro_avg", "average_precision"): float(average_precision_score(y, s64, average="micro")),
            ("macro_avg", "roc_auc"): float(np.mean(aucs)) if aucs else None,
            ("micro_avg", "roc_auc"): float(roc_auc_score(y.ravel(), s64.ravel())),
            ("macro_avg", "f1"): float(f1_score(y, s64 >= thr, average="macro", zero_division=0)),
            ("micro_avg", "f1"): float(f1_score(y, s64 >= thr, average="micro", zero_division=0))}
    if len(aucs) == k:  # sklearn's own macro AUC only exists when every class has both labels
        want[("macro_avg", "roc_auc")] = float(roc_auc_score(y, s64, average="macro"))
    for (a, key), v in want.items():
        if not close(m[a][key], v):
            bad.append(f"{a} {key}: {m[a][key]} vs {v}")
    check(not bad, f"multi-label metrics equal scikit-learn's: {name}" + (f" (differ: {bad[:4]})" if bad else ""))
    if tie == "levels":
        pc1, pc2 = m["per_class"][1], m["per_class"][2]
        check(pc1["average_precision"] == 0 and pc1["roc_auc"] is None and pc1["best_threshold"] is None
              and pc2["roc_auc"] is None and pc2["best_threshold"] == float(s[:, 2].min()),
              "a class without positives: AP 0, AUC and best threshold null; without negatives: AUC null, "
              "best threshold the lowest score")
sys.exit(1 if failures else 0)
