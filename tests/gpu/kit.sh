#!/usr/bin/env bash
# Packs what a borrowed GPU machine needs to run the GPU checks (tests/gpu/run.sh, then bench/gpu/run.sh)
# into gpukit/ (ignored by git), so that its short lease is spent on the GPU and not on building. Here, on
# the build machine: the CUDA build's programs (cnntrain, cnneval, splitset, wav2mel, specnorm,
# tests/gpu/layers, bench/gpu), the shared libraries they load that a bare CUDA image lacks (libsndfile and
# its codecs, FFTW, libsoxr, OpenBLAS, libgfortran, libgomp: copied from this machine, which needs only an
# older glibc than such images have; glibc, libstdc++ and the CUDA libraries are left to the GPU machine),
# and FSDD (../shared/data/fsdd: ../shared does not travel with the working tree). One xz archive, about
# 25 MB, under the 64 MiB a working tree may carry. On the GPU machine, tests/gpu/device-run.sh unpacks it
# and runs everything within a time budget.
# Usage: tests/gpu/kit.sh        (then: device run, carry gpukit, command "bash tests/gpu/device-run.sh")
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build-cuda
progs=(bin/cnntrain bin/cnneval bin/splitset bin/wav2mel bin/specnorm tests/gpu/layers bench/gpu)
make -s -j"$(nproc)" CUDA=1 "${progs[@]/#/$BUILD/}" >&2

stage=$(mktemp -d "${TMPDIR:-/tmp}/gpukit.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kit/build/bin" "$stage/kit/build/tests/gpu" "$stage/kit/build/bench" "$stage/kit/lib"
for p in "${progs[@]}"; do cp "$BUILD/$p" "$stage/kit/build/$p"; done

# Libraries: whatever ldd resolves outside the C library's family, libstdc++/libgcc_s (newer on any CUDA
# image, and what cuDNN itself needs) and the CUDA toolkit (the GPU machine's own, matching its driver).
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libresolv\.|libstdc\+\+\.|libgcc_s\.|libcud|libcublas|libnvidia|libcuda)'
for p in "${progs[@]}"; do ldd "$BUILD/$p"; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
        [[ $name =~ $skip ]] && continue
        cp -L "$path" "$stage/kit/lib/$name"
    done
missing=$(for p in "${progs[@]}"; do ldd "$BUILD/$p"; done | grep 'not found' || true)
[ -z "$missing" ] || { echo "kit: error: unresolved libraries here: $missing" >&2; exit 1; }

fsdd=${SHARED:-../shared}/data/fsdd
if [ -d "$fsdd" ]; then
    mkdir -p "$stage/kit/shared/data"
    cp -r "$fsdd" "$stage/kit/shared/data/fsdd"
else
    echo "kit: warning: no $fsdd: tests/gpu/run.sh's FSDD groups will skip on the GPU machine" >&2
fi
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- lib tools tests bench Makefile || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%FT%TZ) on $(uname -m), $(ldd --version | head -1)"
    nvcc=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc; [ -x "$nvcc" ] || nvcc=nvcc
    echo "nvcc: $("$nvcc" --version | tail -1)"
    echo "libraries: $(cd "$stage/kit/lib" && echo *)"
} >"$stage/kit/MANIFEST"

rm -rf gpukit.tmp && mkdir gpukit.tmp
# xz is Debian's "standard", not "required": without it, Python's lzma writes the same format
if command -v xz >/dev/null; then
    tar -C "$stage" -cf - kit | xz -T0 -6 >gpukit.tmp/kit.tar.xz
else
    tar -C "$stage" -cf - kit | python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read(), preset=6))' \
        >gpukit.tmp/kit.tar.xz
fi
cp "$stage/kit/MANIFEST" gpukit.tmp/MANIFEST
size=$(stat -c %s gpukit.tmp/kit.tar.xz)
if [ "$size" -gt $((60 * 1048576)) ]; then
    echo "kit: error: gpukit/kit.tar.xz is $((size / 1048576)) MiB, over the 60 MiB left for it" >&2
    exit 1
fi
rm -rf gpukit && mv gpukit.tmp gpukit
echo "kit: gpukit/kit.tar.xz $((size / 1024)) KiB; $(head -1 gpukit/MANIFEST)" >&2
echo "kit: on the GPU machine: carry [\"gpukit\"], command \"bash tests/gpu/device-run.sh\" (timeout_s 600)" >&2
