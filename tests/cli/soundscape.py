"""Soundscapes for tests/cli/soundscape.sh. usage: soundscape.py OUTDIR N SECONDS SEED [GAP_MIN GAP_MAX]

N recordings OUTDIR/siteNN.wav (16 kHz, 16-bit) of drifting noise (white plus a low rumble, level
modulated over seconds) with bird calls (a rising tone 2.5-3.5 kHz, 0.3 s) and frog calls (700 Hz with
25 Hz amplitude modulation, 0.4 s) every GAP_MIN..GAP_MAX s, a fifth of them overlapped by a call of the
other kind, and unannotated clicks; each with its Raven selection table siteNN.Table.1.selections.txt.
The same arguments give the same bytes (numpy's default_rng)."""
import os
import sys
import wave

import numpy as np

out, n, seconds, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
gap = (float(sys.argv[5]), float(sys.argv[6])) if len(sys.argv) > 6 else (1.5, 4.0)
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(seed)
sr = 16000
H = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"
def call(kind):
    if kind == "bird":
        d = 0.3; t = np.arange(int(d * sr)) / sr
        f = 2500 + 1000 * t / d + rng.uniform(-150, 150)
        x = np.sin(2 * np.pi * np.cumsum(f) / sr)
    else:
        d = 0.4; t = np.arange(int(d * sr)) / sr
        x = np.sin(2 * np.pi * (700 + rng.uniform(-50, 50)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 25 * t))
    return x * np.hanning(len(x)) * rng.uniform(0.15, 0.35), d
for r in range(n):
    L = int(seconds * sr)
    # noise whose level and colour drift: white plus a low rumble (brown noise), slowly modulated
    env = 1 + 0.8 * np.sin(2 * np.pi * np.arange(L) / sr / rng.uniform(5, 15) + rng.uniform(0, 6.3))
    brown = np.cumsum(rng.normal(0, 1, L)); brown -= np.convolve(brown, np.ones(400) / 400, mode="same")
    y = env * (rng.normal(0, rng.uniform(0.01, 0.03), L) + 0.004 * brown)
    rows = []
    t = rng.uniform(0.5, 2.0)
    while t < seconds - 1.0:
        kind = "bird" if rng.uniform() < 0.5 else "frog"
        x, d = call(kind)
        i = int(t * sr); y[i:i + len(x)] += x
        rows.append((t, t + d, kind))
        if rng.uniform() < 0.2:  # a second call of the other kind at once
            k2 = "frog" if kind == "bird" else "bird"
            x2, d2 = call(k2); j = int((t + 0.05) * sr); y[j:j + len(x2)] += x2
            rows.append((t + 0.05, t + 0.05 + d2, k2))
        t += rng.uniform(*gap)
    for _ in range(int(seconds / 6)):  # unannotated clicks
        i = rng.integers(0, L - 200); y[i:i + 160] += rng.normal(0, 0.3, 160) * np.hanning(160)
    y = np.clip(y, -1, 1)
    with wave.open(f"{out}/site{r:02d}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr)
        w.writeframes((y * 32767).astype("<i2").tobytes())
    with open(f"{out}/site{r:02d}.Table.1.selections.txt", "w") as f:
        f.write(H)
        for k, (b, e, kind) in enumerate(sorted(rows)):
            lo, hi = (2300, 3700) if kind == "bird" else (600, 800)
            f.write(f"{k + 1}\tSpectrogram 1\t1\t{b:.4f}\t{e:.4f}\t{lo}\t{hi}\t{kind}\n")
