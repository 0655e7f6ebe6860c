#!/usr/bin/env python3
"""specnorm against a NumPy reference: every mode, pad and crop, --fit, --stats, -o, --stack, streams.

Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why" lines (counted by tests/run.sh) and exits 0
unless a check failed. Environment: BIN (the directory holding specnorm)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skip test_specnorm: numpy is not installed")
    sys.exit(0)

BIN = os.environ.get("BIN")
import report
from report import check, notok, ok  # noqa: E402



def close(a, b, tol=1e-6):
    """Max of |a - b| / (1 + |b|), or inf when the shapes differ."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b) / (1 + np.abs(b)))) if a.size else 0.0


def check_close(name, got, want, tol=1e-6):
    d = close(got, want)
    if d <= tol:
        ok(name)
    else:
        notok(name, f"max rel diff {d:.3g} > {tol:g}" if d != float("inf") else
              f"shape {np.shape(got)} != {np.shape(want)}")


# ---- the toolkit's RNG (lib/core/rng.c), to predict --crop random -----------------------------------
M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Rng:
    def __init__(self, seed):
        self.s = []
        x = seed & M64
        for _ in range(4):
            x, v = splitmix64(x)
            self.s.append(v)

    @classmethod
    def derive(cls, seed, stream):
        x = (seed ^ 0x5851F42D4C957F2D) & M64
        _, v = splitmix64(x)
        return cls(v ^ ((stream * 0xD1342543DE82EF95 + 0x2545F4914F6CDD1D) & M64))

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - (M64 % n)
        while True:
            x = self.next()
            if x < limit:
                return x % n


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


# ---- the reference ----------------------------------------------------------------------------
EPS = 1e-6


def normalise(x, mode, stats=None):
    x = np.asarray(x, np.float32).astype(np.float64)
    if mode == "sample":
        return ((x - x.mean()) / (x.std() + EPS)).astype(np.float32)
    if mode == "minmax":
        lo, hi = x.min(), x.max()
        return np.zeros_like(x, np.float32) if hi == lo else ((x - lo) / (hi - lo)).astype(np.float32)
    if mode == "stats":
        mean, std = stats.astype(np.float64)
        return ((x - mean[None, :, None]) / (std[None, :, None] + EPS)).astype(np.float32)
    return x.astype(np.float32)


def crop_offset(T, frames, crop, key, seed):
    if frames == 0 or T <= frames:
        return 0
    spare = T - frames
    if crop == "start":
        return 0
    if crop == "centre":
        return spare // 2
    return Rng.derive(seed, fnv1a(key)).below(spare + 1)


def reference(x, mode="sample", frames=400, crop="centre", pad="zero", key="0", seed=42, stats=None):
    if x.ndim == 2:
        x = x[None]
    y = normalise(x, mode, stats)
    T = y.shape[2]
    if frames == 0:
        return y
    off = crop_offset(T, frames, crop, key, seed)
    y = y[:, :, off:off + frames]
    if y.shape[2] < frames:
        n = frames - y.shape[2]
        fill = np.zeros((1, y.shape[1], n), np.float32) if pad == "zero" else np.repeat(y[:, :, -1:], n, axis=2)
        y = np.concatenate([y, fill], axis=2)
    return y


# ---- helpers ----------------------------------------------------------------------------------
def run(*args, stdin=None):
    return subprocess.run([os.path.join(BIN, "specnorm"), *map(str, args)], input=stdin, capture_output=True)


def save_stream(path, arrays):
    with open(path, "wb") as f:
        for a in arrays:
            np.save(f, a)


def load_stream(path_or_bytes):
    import io
    f = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb")
    out = []
    with f:
        while True:
            if not f.read(1):
                break
            f.seek(-1, 1)
            out.append(np.lib.format.read_array(f))
    return out


def write_manifest(path, rows):
    with open(path, "w") as f:
        f.write("key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape\n")
        for r in rows:
            f.write("\t".join(str(v) for v in r) + "\n")


def read_manifest(path):
    with open(path) as f:
        lines = f.read().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, l.split("\t"))) for l in lines[1:]]


class Pipe:
    """Only read(): numpy's fromfile() cannot read a pipe, so read_array takes its stream path."""

    def __init__(self, f):
        self.read = f.read


def pipe_check(data, arrays):
    """specnorm - - with both ends pipes; numpy reads the output as it comes. Never hangs: the writer
    is a daemon thread and the tool is killed whatever happens."""
    import threading
    proc = subprocess.Popen([os.path.join(BIN, "specnorm"), "--pad", "edge", "-", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def feed():
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    try:
        got = [np.lib.format.read_array(Pipe(proc.stdout)) for _ in arrays]
        rest = proc.stdout.read()
        rc = proc.wait(timeout=60)
    except Exception as e:
        print(f"# pipe: {e}")
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    want = [reference(a, pad="edge", key=str(i)) for i, a in enumerate(arrays)]
    return rc == 0 and rest == b"" and max(close(g, w) for g, w in zip(got, want)) <= 1e-6


def main():
    if not BIN:
        print("skip test_specnorm: BIN is not set")
        return 0
    if not os.access(os.path.join(BIN, "specnorm"), os.X_OK):
        notok("specnorm binary", f"{BIN}/specnorm is missing")
        return 1
    with tempfile.TemporaryDirectory(prefix="specnorm-py.") as tmp:
        return checks(tmp)


def checks(tmp):
    rng = np.random.default_rng(1234)
    F = 16
    lengths = [1, 57, 399, 400, 401, 640, 1000]
    arrays = [(rng.normal(size=(1, F, T)) * rng.uniform(0.5, 20) + rng.uniform(-80, 10)).astype(np.float32)
              for T in lengths]
    arrays.append(np.full((1, F, 123), -3.5, np.float32))  # constant: minmax gives zeros
    src = os.path.join(tmp, "in.npy")
    save_stream(src, arrays)

    # every mode, crop and pad on a stream, against the reference
    for mode in ["sample", "minmax", "none"]:
        for crop in ["start", "centre", "random"]:
            for pad in ["zero", "edge"]:
                name = f"stream mode={mode} crop={crop} pad={pad}"
                out = os.path.join(tmp, "out.npy")
                p = run("--mode", mode, "--crop", crop, "--pad", pad, "--frames", 400, src, out)
                if p.returncode != 0:
                    notok(name, p.stderr.decode().strip())
                    continue
                got = load_stream(out)
                want = [reference(a, mode, 400, crop, pad, str(i)) for i, a in enumerate(arrays)]
                d = max(close(g, w) for g, w in zip(got, want)) if len(got) == len(want) else float("inf")
                check(name, d <= 1e-6 and all(g.dtype == np.float32 for g in got), f"max rel diff {d:.3g}")

    # sample mode on the untouched array: exactly zero mean and unit std
    out = os.path.join(tmp, "keep.npy")
    p = run("--frames", 0, src, out)
    got = load_stream(out) if p.returncode == 0 else []
    check("frames 0 keeps each length", [g.shape for g in got] == [a.shape for a in arrays])
    varied = got[1:len(lengths)]  # not the 1-frame array, not the constant one
    check("sample mode: mean 0, std 1", len(varied) == len(lengths) - 1 and
          all(abs(g.astype(np.float64).mean()) < 1e-5 and abs(g.astype(np.float64).std() - 1) < 1e-4 for g in varied))
    check("sample mode: a constant array becomes zeros", len(got) == len(arrays) and not got[-1].any())

    # random crop: seed matters, order does not
    out2 = os.path.join(tmp, "seed7.npy")
    run("--crop", "random", "--seed", 7, "--frames", 100, src, out2)
    got = load_stream(out2)
    want = [reference(a, "sample", 100, "random", "zero", str(i), seed=7) for i, a in enumerate(arrays)]
    check_close("random crop with --seed 7 matches lib/core/rng.c", np.concatenate([g.ravel() for g in got]),
                np.concatenate([w.ravel() for w in want]))

    # 2-D (F, T) input, float64 and big-endian input
    a2 = rng.normal(size=(F, 450)).astype(np.float32)
    p2 = os.path.join(tmp, "two.npy")
    np.save(p2, a2)
    o2 = os.path.join(tmp, "two_out.npy")
    p = run(p2, o2)
    check_close("2-D input taken as (1, F, T)", np.load(o2) if p.returncode == 0 else None, reference(a2))
    np.save(p2, a2.astype(np.float64))
    p = run(p2, o2)
    check_close("float64 input converted to float32", np.load(o2) if p.returncode == 0 else None, reference(a2))
    np.save(p2, a2.astype(">f4"))
    p = run(p2, o2)
    check_close("big-endian input", np.load(o2) if p.returncode == 0 else None, reference(a2))

    # streams through pipes: numpy reads stdout with read_array (no seeking)
    with open(src, "rb") as f:
        data = f.read()
    check("pipe in, pipe out", pipe_check(data, arrays))

    # manifest: one file per array for the first half, a stream for the rest; labels
    rows = []
    for i, a in enumerate(arrays):
        if i < 4:
            path = os.path.join(tmp, f"single{i}.npy")
            np.save(path, a)
        else:
            path = os.path.join(tmp, "rest.npy")
        rows.append([f"clip{i}", path, f"rec{i}.wav", f"class{i % 3}", i % 3, f"spk{i % 2}",
                     f"{i * 0.5:.6f}", f"{i * 0.5 + 1:.6f}", "x".join(map(str, a.shape))])
    save_stream(os.path.join(tmp, "rest.npy"), arrays[4:])
    man = os.path.join(tmp, "train.tsv")
    write_manifest(man, rows)

    # --fit against numpy over all frames
    stats = os.path.join(tmp, "stats.npy")
    p = run("--fit", stats, "-m", man)
    allx = np.concatenate([a[0].astype(np.float64) for a in arrays], axis=1)
    want = np.stack([allx.mean(axis=1), allx.std(axis=1)]).astype(np.float32)
    s = np.load(stats) if p.returncode == 0 else None
    check("--fit writes float32 (2, F)", s is not None and s.dtype == np.float32 and s.shape == (2, F))
    check_close("--fit mean and std match numpy", s, want)
    stats2 = os.path.join(tmp, "stats2.npy")
    run("--fit", stats2, src)
    check("--fit on the stream = on the manifest, same bytes",
          open(stats, "rb").read() == open(stats2, "rb").read())

    # --stats mode
    out = os.path.join(tmp, "stats_out.npy")
    p = run("--stats", stats, "--pad", "edge", "--crop", "start", src, out)
    got = load_stream(out) if p.returncode == 0 else []
    want = [reference(a, "stats", 400, "start", "edge", str(i), stats=s) for i, a in enumerate(arrays)]
    check("--stats mode matches numpy", len(got) == len(want) and
          max(close(g, w) for g, w in zip(got, want)) <= 1e-6)

    # -o DIR with -M
    outdir = os.path.join(tmp, "norm", "train")
    outman = os.path.join(tmp, "norm.tsv")
    p = run("-m", man, "-o", outdir, "-M", outman, "--crop", "random", "--frames", 300)
    files_ok = p.returncode == 0
    d = 0.0
    for i, a in enumerate(arrays):
        path = os.path.join(outdir, f"clip{i}.npy")
        if not os.path.exists(path):
            files_ok = False
            break
        d = max(d, close(np.load(path), reference(a, frames=300, crop="random", key=f"clip{i}")))
    check("-o DIR: DIR/<key>.npy match numpy (random crop keyed by key)", files_ok and d <= 1e-6,
          p.stderr.decode().strip() or f"max rel diff {d:.3g}")
    om = read_manifest(outman) if p.returncode == 0 else []
    check("-M with -o: same rows, new npy and shape",
          len(om) == len(rows) and all(r["key"] == f"clip{i}" and r["npy"] == os.path.join(outdir, f"clip{i}.npy")
                                       and r["shape"] == f"1x{F}x300" and r["label"] == f"class{i % 3}"
                                       and r["source"] == f"rec{i}.wav" and r["group"] == f"spk{i % 2}"
                                       for i, r in enumerate(om)))

    # --stack with --labels and -M
    stack = os.path.join(tmp, "train_x.npy")
    labels = os.path.join(tmp, "train_y.npy")
    sman = os.path.join(tmp, "train_stack.tsv")
    p = run("-m", man, "--stack", stack, "--labels", labels, "-M", sman, "--mode", "minmax", "--pad", "edge")
    if p.returncode != 0:
        notok("--stack", p.stderr.decode().strip())
    else:
        x = np.load(stack)
        y = np.load(labels)
        check("--stack: (N, 1, F, T) float32", x.shape == (len(arrays), 1, F, 400) and x.dtype == np.float32,
              f"{x.shape} {x.dtype}")
        check("--labels: int64 (N,) from the index column", y.dtype == np.int64 and
              y.tolist() == [i % 3 for i in range(len(arrays))])
        want = np.stack([reference(a, "minmax", 400, "centre", "edge", f"clip{i}") for i, a in enumerate(arrays)])
        check_close("--stack rows match numpy", x, want)
        import io
        buf = io.BytesIO()
        np.save(buf, x)
        check("--stack file is byte-identical to numpy.save", buf.getvalue() == open(stack, "rb").read())
        xm = np.load(stack, mmap_mode="r")
        check("--stack can be memory-mapped", xm.shape == x.shape and np.array_equal(xm[3], x[3]))
        sm = read_manifest(sman)
        check("-M with --stack: row i describes sample i", len(sm) == len(arrays) and
              all(r["key"] == f"clip{i}" and r["npy"] == stack and r["shape"] == f"1x{F}x400" and
                  r["index"] == str(i % 3) for i, r in enumerate(sm)))

    # --stack with --frames 0 on equal lengths
    eq = [rng.normal(size=(1, F, 77)).astype(np.float32) for _ in range(3)]
    save_stream(os.path.join(tmp, "eq.npy"), eq)
    eqman = os.path.join(tmp, "eq.tsv")
    write_manifest(eqman, [[f"e{i}", os.path.join(tmp, "eq.npy"), "", "", -1, "", "", "", f"1x{F}x77"]
                           for i in range(3)])
    p = run("-m", eqman, "--stack", stack, "--frames", 0)
    check_close("--stack --frames 0 (equal lengths)", np.load(stack) if p.returncode == 0 else None,
                np.stack([reference(a, frames=0) for a in eq]))

    # deterministic: the same run twice gives the same bytes
    run("-m", man, "--stack", stack, "--crop", "random", "--seed", 3, "--frames", 50)
    first = open(stack, "rb").read()
    run("-m", man, "--stack", stack, "--crop", "random", "--seed", 3, "--frames", 50)
    check("--stack twice, same bytes", first == open(stack, "rb").read())

    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
