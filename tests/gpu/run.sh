#!/usr/bin/env bash
# The GPU tests: every layer with a CUDA twin against the CPU engine on a real GPU, the algorithm cache and
# --deterministic (tests/gpu/layers.c), then the groups not implemented yet as skip lines. Without a
# usable GPU, or in a build without CUDA, each group prints one skip line and the script exits 0.
# Report lines as tests/run.sh counts them ("ok ...", "not ok ...", "skip ..."); at most 8 minutes.
# Usage: tests/gpu/run.sh [PROGRAM]   (default: $GPU_TESTS, else build-cuda/tests/gpu/layers)
# On a machine with a GPU:  make CUDA=1 build-cuda/tests/gpu/layers && tests/gpu/run.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
bin=${1:-${GPU_TESTS:-build-cuda/tests/gpu/layers}}
if [ ! -x "$bin" ]; then
    echo "skip gpu: $bin is not built (make CUDA=1 $bin)"
    exit 0
fi
timeout 480 "$bin"
rc=$?
[ $rc = 124 ] && echo "not ok gpu: over 8 minutes"
exit $rc
