"""Event matching (lib/scan/detect.c) against an independent maximum bipartite matching: scipy's
linear_sum_assignment on the 0/1 "may match" matrix (the largest total weight = the most pairs), over
random events and selections of several classes, crowded and sparse, fractions 0.1 to 1, zero-length
selections; and the flags: as many of each side flagged as pairs, every flagged event overlapping a
flagged selection of its class."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from scipy.optimize import linear_sum_assignment
except ImportError as e:
    print(f"skip detection matching: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
rng = np.random.default_rng(11)
tmp = tempfile.mkdtemp()
failures = 0


def check(ok, name):
    global failures
    print(("ok " if ok else "not ok ") + name)
    failures += 0 if ok else 1


def may_match(e, t, f):
    if e[0] != t[0]:
        return False
    tl = t[2] - t[1]
    if tl <= 0:
        return e[1] <= t[1] < e[2]
    ov = min(e[2], t[2]) - max(e[1], t[1])
    return ov > 0 and ov >= f * min(tl, e[2] - e[1]) - 1e-9


def rows(n, k, span, lmax, zero=0.0):
    c = rng.integers(0, k, n)
    b = np.round(rng.uniform(0, span, n), 3)
    l = np.round(rng.uniform(0.05, lmax, n), 3)
    l[rng.uniform(size=n) < zero] = 0
    return [(int(c[i]), float(b[i]), float(b[i] + l[i])) for i in range(n)]


cases = [("crowded, one class", 60, 50, 1, 20, 3, 0.5, 0.0), ("crowded, 3 classes", 120, 100, 3, 30, 4, 0.3, 0.0),
         ("sparse", 40, 40, 2, 400, 2, 0.5, 0.0), ("strict fraction 1", 80, 80, 2, 40, 3, 1.0, 0.0),
         ("loose fraction 0.1", 80, 60, 2, 40, 3, 0.1, 0.0), ("zero-length selections", 50, 60, 2, 30, 2, 0.5, 0.3),
         ("no events", 0, 10, 1, 10, 1, 0.5, 0.0)]
for name, ne, nt, k, span, lmax, f, zero in cases:
    for rep in range(3):
        ev, tr = rows(ne, k, span, lmax), rows(nt, k, span, lmax, zero)
        pe, pt = os.path.join(tmp, "e.tsv"), os.path.join(tmp, "t.tsv")
        with open(pe, "w") as fh:
            fh.writelines(f"{c}\t{b!r}\t{e!r}\n" for c, b, e in ev)
        with open(pt, "w") as fh:
            fh.writelines(f"{c}\t{b!r}\t{e!r}\n" for c, b, e in tr)
        out = subprocess.run([os.path.join(DRIVERS, "detect"), pe, pt, str(f)], check=True, capture_output=True,
                             text=True).stdout.split("\n")
        pairs = int(out[0])
        m = np.array([[1.0 if may_match(e, t, f) else 0.0 for t in tr] for e in ev]).reshape(len(ev), len(tr))
        want = int(m[linear_sum_assignment(-m)].sum()) if m.size else 0
        em = [ch == "1" for ch in out[1]]
        tm = [ch == "1" for ch in out[2]]
        flags_ok = sum(em) == pairs and sum(tm) == pairs and all(
            any(tm[j] and m[i, j] for j in range(len(tr))) for i in range(len(ev)) if em[i])
        check(pairs == want and flags_ok, f"{name} ({rep}): {pairs} pairs, scipy's maximum {want}")
print(f"{failures} failures")
sys.exit(1 if failures else 0)
