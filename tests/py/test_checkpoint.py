"""cnntrain's checkpoints in PyTorch, and PyTorch's weights in cnneval.

A small separable data set is made with numpy (3 classes, (N, 1, 32, 32)), cnntrain trains on it for a
few epochs, and then:
  - the checkpoint loads with the real safetensors library into tests/ref/baseline.py's BaselineCNN with
    load_state_dict(strict=True): every name, shape and dtype matches (num_batches_tracked an int64
    scalar), and its metadata is what cnntrain(1) documents;
  - PyTorch's eval-mode softmax on the test stack equals cnneval's predictions.tsv to 1e-4, with the
    same predicted classes, and cnneval's loss and accuracy equal PyTorch's;
  - num_batches_tracked counts the batches of the epochs before the checkpoint;
  - the state file loads the same way once its opt.* tensors are left out, and holds opt.m/opt.v for
    every parameter and one opt.step per state_dict entry;
  - the other way: weights changed in PyTorch and saved with safetensors.torch.save_file (with the
    checkpoint's metadata) are evaluated by cnneval with PyTorch's probabilities;
  - a checkpoint trained with --frontend '... | --stats FILE' carries the statistics as
    frontend.stats.mean/std (the file's float32 values), loads with strict=True once they are dropped,
    and those tensors normalise in PyTorch exactly as specnorm --stats does.
Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why" lines; exits 0 unless a check failed.
Environment: BIN (the tools; default build/bin)."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
try:
    import numpy as np
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from tests.ref.baseline import BaselineCNN
except ImportError as e:
    print(f"skip test_checkpoint: {e}")
    sys.exit(0)

BIN = os.environ.get("BIN", "build/bin")
if not (os.access(os.path.join(BIN, "cnntrain"), os.X_OK) and os.access(os.path.join(BIN, "cnneval"), os.X_OK)):
    print(f"skip test_checkpoint: no cnntrain/cnneval in {BIN}")
    sys.exit(0)
TOL = 1e-4
import report
from report import check, notok, ok  # noqa: E402



def run(*args):
    r = subprocess.run([os.path.join(BIN, args[0]), *args[1:]], capture_output=True, text=True)
    if r.returncode != 0:
        notok(" ".join(args[:2]), f"exit {r.returncode}: {r.stderr.strip()[:300]}")
        sys.exit(1)
    return r


def read_tsv(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return rows[0], rows[1:]


torch.set_num_threads(1)
tmp = tempfile.mkdtemp()
P = lambda name: os.path.join(tmp, name)
K, F, T = 3, 32, 32


def make_split(name, n, seed):
    """Class c: a horizontal band at rows 4+9c plus noise, standardised per sample as specnorm does."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % K
    x = rng.standard_normal((n, 1, F, T)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 4 + 9 * c: 8 + 9 * c, :] += 3.0
    x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-6)
    np.save(P(f"{name}.npy"), x.astype(np.float32))
    np.save(P(f"{name}-labels.npy"), y)
    return x.astype(np.float32), y


xtr, ytr = make_split("train", 24, 1)
make_split("val", 9, 2)
xte, yte = make_split("test", 12, 3)
with open(P("classes.tsv"), "w") as f:
    f.write("index\tname\n0\tlow\n1\tmid\n2\thigh\n")
BATCH = 8
run("cnntrain", "-q", "--threads", "1", "--epochs", "4", "--batch", str(BATCH), "--train", P("train.npy"), "--val", P("val.npy"),
    "--classes", P("classes.tsv"), "--frontend", "synthetic bands", "-o", P("model.safetensors"))
r = run("cnneval", "-q", P("model.safetensors"), P("test.npy"), "-o", P("eval"))

# ---- the checkpoint in PyTorch ------------------------------------------------------------------------------
with safe_open(P("model.safetensors"), "pt") as f:
    meta = f.metadata()
sd = load_file(P("model.safetensors"))
check("metadata: format, arch, input_shape, n_classes, classes, frontend",
      (meta.get("format"), meta.get("arch"), meta.get("input_shape"), meta.get("n_classes"), meta.get("frontend")) ==
      ("audiocnn-checkpoint-1", "baseline", f"1x{F}x{T}", "3", "synthetic bands") and json.loads(meta["classes"]) == ["low", "mid", "high"],
      str(meta))
check("metadata: epoch, monitor, best, training",
      1 <= int(meta["epoch"]) <= 4 and meta["monitor"] == "val_loss" and float(meta["best"]) > 0 and
      meta["training"].startswith("epochs=4 batch=8 lr=0.002"), str(meta))
model = BaselineCNN(int(meta["n_classes"]))
ref = model.state_dict()
with open(P("model.safetensors"), "rb") as f:  # the header's order (load_file sorts the names)
    n = int.from_bytes(f.read(8), "little")
    order = [k for k in json.loads(f.read(n)) if k != "__metadata__"]
check("the same names, in the file in the order of BaselineCNN's state_dict", order == list(ref) and set(sd) == set(ref),
      f"{order[:4]} vs {list(ref)[:4]}")
bad = [k for k in ref if k in sd and (sd[k].shape != ref[k].shape or sd[k].dtype != ref[k].dtype)]
check("every tensor has BaselineCNN's shape and dtype (num_batches_tracked int64 scalars)", not bad,
      ", ".join(f"{k}: {tuple(sd[k].shape)} {sd[k].dtype} vs {tuple(ref[k].shape)} {ref[k].dtype}" for k in bad))
try:
    res = model.load_state_dict(sd, strict=True)
    check("load_state_dict(strict=True)", not res.missing_keys and not res.unexpected_keys, str(res))
except RuntimeError as e:
    notok("load_state_dict(strict=True)", str(e).splitlines()[0])
    sys.exit(1)
steps = int(meta["epoch"]) * -(-len(ytr) // BATCH)
nbt = {k: int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")}
check(f"num_batches_tracked = batches trained up to the checkpoint's epoch ({steps})", set(nbt.values()) == {steps}, str(nbt))

model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(xte)).double()
probs = torch.softmax(logits, 1).numpy()
header, rows = read_tsv(P("eval/predictions.tsv"))
check("predictions.tsv header", header == ["key", "true", "predicted", "confidence", "p_low", "p_mid", "p_high"], str(header))
c_probs = np.array([[float(v) for v in row[4:]] for row in rows])
err = float(np.abs(c_probs - probs).max()) if c_probs.shape == probs.shape else float("inf")
check(f"PyTorch's eval-mode probabilities = cnneval's (max abs diff {err:.1e})", err <= TOL, f"{err:.3g}")
names = ["low", "mid", "high"]
check("the same predicted classes", [names.index(row[2]) for row in rows] == probs.argmax(1).tolist())
with open(P("eval/metrics.json")) as f:
    m = json.load(f)
loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(yte)))
acc = float((probs.argmax(1) == yte).mean())
check(f"cnneval's loss = PyTorch's cross_entropy ({m['loss']:.6f} vs {loss:.6f}) and accuracy ({m['accuracy']})",
      abs(m["loss"] - loss) <= TOL * max(1.0, abs(loss)) and m["accuracy"] == acc, f"{m['loss']} {loss} {m['accuracy']} {acc}")

# ---- the state file --------------------------------------------------------------------------------------------
st = load_file(P("model.state.safetensors"))
weights = {k: v for k, v in st.items() if not k.startswith("opt.")}
try:
    res = BaselineCNN(3).load_state_dict(weights, strict=True)
    ok("the state file's weights load with strict=True once opt.* is left out")
except RuntimeError as e:
    notok("state file weights", str(e).splitlines()[0])
params = dict(model.named_parameters())
moments = all(f"opt.{w}.{k}" in st and st[f"opt.{w}.{k}"].shape == p.shape for k, p in params.items() for w in "mv")
check("the state holds opt.m and opt.v of every parameter, and one opt.step per state_dict entry",
      moments and tuple(st["opt.step"].shape) == (len(ref),) and st["opt.step"].dtype == torch.int64,
      f"opt.step {tuple(st['opt.step'].shape) if 'opt.step' in st else None}")
with safe_open(P("model.state.safetensors"), "pt") as f:
    smeta = f.metadata()
check("the state's metadata: state.epoch = 4 (the run ended), state.batch = 0", smeta.get("state.epoch") == "4" and smeta.get("state.batch") == "0",
      str({k: v for k, v in smeta.items() if k.startswith("state.")}))

# ---- PyTorch -> cnneval --------------------------------------------------------------------------------------------
g = torch.Generator().manual_seed(5)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.add_(0.05 * torch.randn(p.shape, generator=g))
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2, generator=g)
            mod.running_var.uniform_(0.5, 1.5, generator=g)
    probs2 = torch.softmax(model(torch.from_numpy(xte)).double(), 1).numpy()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, P("torch.safetensors"), metadata=meta)
run("cnneval", "-q", P("torch.safetensors"), P("test.npy"), "-o", P("eval2"))
_, rows2 = read_tsv(P("eval2/predictions.tsv"))
c2 = np.array([[float(v) for v in row[4:]] for row in rows2])
err2 = float(np.abs(c2 - probs2).max()) if c2.shape == probs2.shape else float("inf")
check(f"weights changed in PyTorch and saved by safetensors.torch.save_file: cnneval = PyTorch (max abs diff {err2:.1e})", err2 <= TOL, f"{err2:.3g}")

# ---- a checkpoint with the front end's data-set statistics (cnntrain --frontend '... | --stats FILE') ----------------
# The statistics ride along as frontend.stats.mean/std (F32, (F,)): dropped before load_state_dict, as
# audiocnn-formats(5) shows, the rest loads with strict=True, and the tensors normalise raw inputs as
# specnorm --stats does.
rng = np.random.default_rng(7)
stats = np.stack([rng.uniform(-60, -20, F), rng.uniform(5, 20, F)]).astype(np.float32)
np.save(P("stats.npy"), stats)
run("cnntrain", "-q", "--threads", "1", "--epochs", "2", "--batch", str(BATCH), "--train", P("train.npy"),
    "--classes", P("classes.tsv"), "--frontend", f"--n-mels {F} | --stats {P('stats.npy')} --frames {T}",
    "-o", P("stats.safetensors"))
with safe_open(P("stats.safetensors"), "pt") as f:
    smeta = f.metadata()
full = load_file(P("stats.safetensors"))
check("the statistics are frontend.stats.mean/std, float32 (F,), equal to the file; the text says --stats checkpoint",
      smeta.get("frontend") == f"--n-mels {F} | --stats checkpoint --frames {T}" and
      {k for k in full if k.startswith("frontend.")} == {"frontend.stats.mean", "frontend.stats.std"} and
      all(full[k].dtype == torch.float32 and full[k].numpy().tobytes() == stats[i].tobytes()
          for i, k in enumerate(("frontend.stats.mean", "frontend.stats.std"))), str(smeta.get("frontend")))
try:
    BaselineCNN(3).load_state_dict(full, strict=True)
    notok("strict=True refuses the frontend.* tensors", "it loaded them")
except RuntimeError as e:
    check("strict=True refuses the frontend.* tensors (unexpected keys)", "frontend.stats" in str(e), str(e).splitlines()[0])
sd = {k: v for k, v in load_file(P("stats.safetensors")).items() if not k.startswith("frontend.")}
try:
    res = BaselineCNN(3).load_state_dict(sd, strict=True)
    ok("without the frontend.* tensors the checkpoint loads with strict=True")
except RuntimeError as e:
    notok("stats checkpoint without frontend.*", str(e).splitlines()[0])
raw = rng.uniform(-80, 0, (4, 1, F, T)).astype(np.float32)
mean, std = full["frontend.stats.mean"].double(), full["frontend.stats.std"].double()
x = ((torch.from_numpy(raw).double() - mean[:, None]) / (std[:, None] + 1e-6)).float()  # specnorm's formula
with open(P("raw.npy"), "wb") as f:  # a stream of (1, F, T) spectrograms
    for r in raw:
        np.lib.format.write_array(f, r)
run("specnorm", "-q", "--stats", P("stats.npy"), "--frames", str(T), P("raw.npy"), P("raw-norm.npy"))
with open(P("raw-norm.npy"), "rb") as f:
    ours = np.stack([np.lib.format.read_array(f) for _ in range(len(raw))])
check("normalising with the tensors in PyTorch = specnorm --stats with the file, bit for bit",
      ours.shape == (4, 1, F, T) and ours.tobytes() == x.numpy().tobytes(), str(ours.shape))
sys.exit(1 if report.failures else 0)
