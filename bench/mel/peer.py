"""Peers for bench/mel: the same front end in torchaudio and in librosa, over a list of files.

usage: peer.py torchaudio|librosa LIST PROCESSES [SR]   (SR 0: no resampling, each file's own rate)
Prints "<files> <seconds>" for decode + resample to 22050 Hz + 128-band log-mel (n_fft 1024, hop 256,
slaney mel scale and norm, centred reflect-padded frames, power to dB), one intra-op thread per process,
the files divided among PROCESSES worker processes (how a DataLoader with num_workers would spread them)."""
import multiprocessing as mp
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
kind, listfile, procs = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = [l.strip() for l in open(listfile) if l.strip()]
SR = int(sys.argv[4]) if len(sys.argv) > 4 else 22050


def run_torchaudio(chunk):
    import torch
    import torchaudio
    torch.set_num_threads(1)
    resamplers, mels = {}, {}
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power")
    try:  # torchaudio >= 2.9 loads through torchcodec (FFmpeg); without it, load with soundfile
        torchaudio.load(chunk[0])
        load = torchaudio.load
    except Exception:
        import soundfile

        def load(f):
            y, sr = soundfile.read(f, dtype="float32", always_2d=True)
            return torch.from_numpy(y.T.copy()), sr
    total = 0.0
    for f in chunk:
        w, sr = load(f)
        w = w.mean(0, keepdim=True)
        if SR and sr != SR:
            if sr not in resamplers:
                resamplers[sr] = torchaudio.transforms.Resample(sr, SR)
            w = resamplers[sr](w)
        rate = SR or sr
        if rate not in mels:
            mels[rate] = torchaudio.transforms.MelSpectrogram(sample_rate=rate, n_fft=1024, hop_length=256, n_mels=128,
                                                              norm="slaney", mel_scale="slaney", center=True,
                                                              pad_mode="reflect", power=2.0)
        total += float(to_db(mels[rate](w)).sum())  # consume the result
    return total


def run_librosa(chunk):
    import librosa
    import numpy as np
    total = 0.0
    for f in chunk:
        y, sr = librosa.load(f, sr=SR or None)
        S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=128, pad_mode="reflect")
        total += float(librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None).sum())
    return total


fn = run_torchaudio if kind == "torchaudio" else run_librosa
fn(files[:5])  # warm-up: imports, kernels, JIT caches (not timed)
t0 = time.perf_counter()
if procs == 1:
    fn(files)
else:
    chunks = [files[i::procs] for i in range(procs)]
    with mp.get_context("fork").Pool(procs) as pool:
        pool.map(fn, chunks)
print(len(files), time.perf_counter() - t0)
