"""wav2mel against the references: librosa (what users' notebooks call) and torchaudio.

The reference values are computed here, by librosa 0.10 / torchaudio 0.13 in this environment, from the
same files. Bound: max |difference| <= 1e-3 dB over the bins within 80 dB of the spectrogram's maximum.
Prints one "ok"/"not ok"/"skip" line per check, with the measured maximum difference."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skip wav2mel parity: numpy missing")
    sys.exit(0)

BIN = os.environ.get("BIN", "build/bin")
SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
FSDD = os.path.join(SHARED, "data/fsdd")
WATKINS = os.path.join(SHARED, "data/watkins10")
TOL_DB = 1e-3
failures = 0


def report(ok, name, detail=""):
    global failures
    print(("ok " if ok else "not ok ") + name + (f" ({detail})" if detail else ""))
    failures += 0 if ok else 1


def wav2mel(path, *args):
    with tempfile.NamedTemporaryFile(suffix=".npy") as f:
        subprocess.run([os.path.join(BIN, "wav2mel"), *args, path, f.name], check=True)
        return np.load(f.name)


def db_diff(ours, ref):
    ours = ours[0]
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    mask = ref >= ref.max() - 80
    return float(np.abs(ours - ref)[mask].max())


try:
    import librosa
    import soundfile
except ImportError as e:
    print(f"skip wav2mel parity: {e}")
    sys.exit(0)

tmp = tempfile.mkdtemp()
rng = np.random.default_rng(0)


def synth(name, sr, seconds, channels=1, subtype="PCM_16"):
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t) + 0.05 * rng.standard_normal(t.size)
    y = np.stack([y * (0.5 + 0.5 * c) for c in range(channels)], axis=1)
    path = os.path.join(tmp, name)
    soundfile.write(path, y, sr, subtype=subtype)
    return path


def librosa_db(y, sr, n_fft=1024, hop=256, n_mels=128, power=2.0, center=True, pad_mode="reflect", **kw):
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=power,
                                       center=center, pad_mode=pad_mode, **kw)
    return librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None) if power == 2 else \
        librosa.amplitude_to_db(S, ref=1.0, amin=1e-5, top_db=None)


# --- FSDD files at their own rate (8 kHz): librosa and torchaudio ----------------------------------
files = []
if os.path.isdir(FSDD):
    for d in range(10):
        names = sorted(os.listdir(os.path.join(FSDD, str(d))))
        files += [os.path.join(FSDD, str(d), n) for n in names[d * 7: d * 7 + 3]]  # 30 files, all speakers
else:
    print("skip FSDD parity: ../shared/data/fsdd absent")

worst = 0.0
for f in files:
    y, sr = librosa.load(f, sr=None)
    worst = max(worst, db_diff(wav2mel(f, "--sr", "0"), librosa_db(y, sr)))
if files:
    report(worst <= TOL_DB, f"FSDD native rate vs librosa melspectrogram+power_to_db, {len(files)} files",
           f"max {worst:.2e} dB")

try:
    import torch
    import torchaudio
    have_torch = True
except ImportError:
    have_torch = False
    print("skip torchaudio parity: torchaudio missing")
if have_torch and files:
    # torchaudio builds its mel filterbank in the default dtype; in float32 small triangle weights carry
    # up to 1% relative error (checked against librosa's float64 filters), worth ~2e-3 dB. In float64 the
    # same algorithm agrees with librosa to 4e-11, so the 1e-3 dB bound applies to that; the float32
    # default is reported against a 1e-2 dB bound.
    for dtype, tol in ((torch.float64, TOL_DB), (torch.float32, 1e-2)):
        torch.set_default_dtype(dtype)
        worst = 0.0
        mel = None
        for f in files:
            w, sr = torchaudio.load(f)
            if mel is None:
                mel = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=1024, hop_length=256, n_mels=128,
                                                           norm="slaney", mel_scale="slaney", center=True,
                                                           pad_mode="reflect", power=2.0)
            ref = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)(mel(w.to(dtype)))[0].numpy()
            worst = max(worst, db_diff(wav2mel(f, "--sr", "0"), ref))
        report(worst <= tol, f"FSDD native rate vs torchaudio MelSpectrogram+AmplitudeToDB in {str(dtype)[6:]}, "
               f"{len(files)} files, bound {tol:g} dB", f"max {worst:.2e} dB")
    torch.set_default_dtype(torch.float32)

# --- resampled to 22050 Hz: librosa.load(sr=22050) uses soxr HQ, as we do -------------------------
worst = 0.0
resample_files = files[:10]
if os.path.isdir(WATKINS):
    for cls in sorted(os.listdir(WATKINS)):
        p = os.path.join(WATKINS, cls)
        if os.path.isdir(p):
            resample_files.append(os.path.join(p, sorted(os.listdir(p))[0]))
resample_files.append(synth("stereo44k.wav", 44100, 1.3, channels=2))
resample_files.append(synth("float48k.wav", 48000, 0.7, subtype="FLOAT"))
for f in resample_files:
    y, sr = librosa.load(f, sr=22050)
    worst = max(worst, db_diff(wav2mel(f), librosa_db(y, sr)))
report(worst <= TOL_DB, f"resampled to 22050 Hz vs librosa.load(sr=22050), {len(resample_files)} files "
       "(FSDD, one per Watkins class at 10-166 kHz, stereo 44.1k, float 48k)", f"max {worst:.2e} dB")

# --- other settings against librosa ---------------------------------------------------------------
f = synth("cfg.wav", 16000, 1.1)
y, sr = librosa.load(f, sr=None)
cases = [
    ("htk scale, no filter norm, 64 mels, fmin 50, fmax 6000",
     ["--mel-scale", "htk", "--mel-norm", "none", "--n-mels", "64", "--fmin", "50", "--fmax", "6000"],
     librosa_db(y, sr, n_mels=64, htk=True, norm=None, fmin=50, fmax=6000)),
    ("power 1 (magnitude, 20*log10)", ["--power", "1"], librosa_db(y, sr, power=1.0)),
    ("win_length 400 < n_fft 512, hop 160", ["--n-fft", "512", "--win-length", "400", "--hop", "160"],
     librosa_db(y, sr, n_fft=512, hop=160, win_length=400)),
    ("uncentred frames", ["--no-center"], librosa_db(y, sr, center=False)),
    ("constant (zero) padding", ["--pad", "constant"], librosa_db(y, sr, pad_mode="constant")),
]
for name, args, ref in cases:
    d = db_diff(wav2mel(f, "--sr", "0", *args), ref)
    report(d <= TOL_DB, f"{name} vs librosa", f"max {d:.2e} dB")

S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, pad_mode="reflect")
ref = librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=80)
d = float(np.abs(wav2mel(f, "--sr", "0", "--ref", "max", "--top-db", "80")[0] - ref).max())
report(d <= TOL_DB, "ref max and top_db 80 vs librosa.power_to_db(ref=np.max, top_db=80)", f"max {d:.2e} dB")
ours = wav2mel(f, "--sr", "0", "--scale", "log1p")[0]
d = float(np.abs(ours - np.log1p(S)).max() / np.abs(np.log1p(S)).max())
report(d <= 1e-5, "log1p scale vs log1p(librosa melspectrogram)", f"max rel {d:.2e}")
ours = wav2mel(f, "--sr", "0", "--scale", "linear")[0]
d = float(np.abs(ours - S).max() / S.max())
report(d <= 1e-5, "linear scale vs librosa melspectrogram", f"max rel {d:.2e}")
P = np.abs(librosa.stft(y, n_fft=512, hop_length=256, pad_mode="reflect")) ** 2
d = db_diff(wav2mel(f, "--sr", "0", "--kind", "stft", "--n-fft", "512"), librosa.power_to_db(P, amin=1e-10, top_db=None))
report(d <= TOL_DB, "kind stft vs librosa.stft power", f"max {d:.2e} dB")

# a recording shorter than n_fft/2: numpy's reflect padding repeats the reflection
short = synth("short.wav", 8000, 0.03)  # 240 samples < 512
ys, srs = librosa.load(short, sr=None)
d = db_diff(wav2mel(short, "--sr", "0"), librosa_db(ys, srs))
report(d <= TOL_DB, "240-sample recording (pad longer than the signal) vs librosa", f"max {d:.2e} dB")

# silence trim: the same interval as librosa.effects.trim(top_db=30)
sr = 8000
t = np.arange(sr) / sr
yt = np.concatenate([np.zeros(4000), 0.5 * np.sin(2 * np.pi * 300 * t[:5000]), 1e-4 * rng.standard_normal(6000)])
trim_path = os.path.join(tmp, "trim.wav")
soundfile.write(trim_path, yt, sr, subtype="FLOAT")
yl, _ = librosa.load(trim_path, sr=None)
yt_trim, idx = librosa.effects.trim(yl, top_db=30)
d = db_diff(wav2mel(trim_path, "--sr", "0", "--trim", "30"), librosa_db(yt_trim, sr))
report(d <= TOL_DB, f"--trim 30 vs librosa.effects.trim (kept samples {idx[0]}..{idx[1]})", f"max {d:.2e} dB")

# --- files written are what numpy.save writes, byte for byte --------------------------------------
with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "x.npy")
    subprocess.run([os.path.join(BIN, "wav2mel"), f, out], check=True)
    arr = np.load(out)
    ref = os.path.join(d, "ref.npy")
    np.save(ref, arr)
    same = open(out, "rb").read() == open(ref, "rb").read()
    report(same and arr.dtype == np.float32 and arr.flags.c_contiguous, "output bytes equal numpy.save of the same array")
    # a stream of arrays reads back with np.lib.format.read_array one by one
    stream = os.path.join(d, "s.npy")
    subprocess.run([os.path.join(BIN, "wav2mel"), f, short, stream], check=True)
    with open(stream, "rb") as fh:
        a1 = np.lib.format.read_array(fh)
        a2 = np.lib.format.read_array(fh)
        rest = fh.read()
    report(np.array_equal(a1, arr) and a2.shape[1] == 128 and rest == b"", "a stream reads back with np.lib.format.read_array")

sys.exit(1 if failures else 0)
