#!/usr/bin/env bash
# --device in cnntrain and cnneval (also with --scan): the spellings, the one-line errors (exit 1) when the
# build has no CUDA or no GPU can be used, bad usage (exit 2) for a misspelt value, auto falling back to
# the CPU with its reason under -v, and the default CPU run unchanged. Runs on either build (CUDA_BUILD=1:
# make CUDA=1 test); a machine with a usable GPU gets its own checks in tests/gpu/.
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
if [ "${CUDA_BUILD:-0}" = 1 ]; then
    nocuda='(no usable CUDA GPU|no CUDA GPU found|found, but the GPU engine)'
else
    nocuda='this build has no CUDA \(build with make CUDA=1\)'
fi
for d in cuda cuda:0 cuda:3; do
    expect_error "cnntrain --device $d without a usable GPU: one line, exit 1" "--device $d: $nocuda" 1 \
        $B/cnntrain --device $d --train missing.npy -o m.safetensors
    expect_error "cnneval --device $d: one line, exit 1" "--device $d: $nocuda" 1 \
        $B/cnneval --device $d missing.safetensors missing.npy
    expect_error "cnneval --scan --device $d: one line, exit 1" "--device $d: $nocuda" 1 \
        $B/cnneval --scan --device $d missing.safetensors missing.wav
done
for d in gpu CUDA cuda: cuda:x cuda:-1 cuda:01 cuda:16 ""; do
    expect_error "cnntrain --device '$d': bad usage" "bad value for --device" 2 $B/cnntrain --device "$d" --train missing.npy -o m.safetensors
    expect_error "cnneval --device '$d': bad usage" "bad value for --device" 2 $B/cnneval --device "$d" missing.safetensors missing.npy
done
# the error comes before any data is read: the missing file is not what is reported
expect_error "cnntrain: the device is checked before the data" "--device cuda:" 1 $B/cnntrain --device cuda --train missing.npy -o m.safetensors
# auto and cpu: the CPU, the run goes on to the (missing) data; -v names the device and why not a GPU
$B/cnntrain -v --device auto --train missing.npy -o m.safetensors 2>err.txt
grep -q '^cnntrain: device: cpu (auto: ' err.txt && grep -q 'missing.npy' err.txt \
    && ok "cnntrain -v --device auto: the CPU, with the reason" || notok "cnntrain -v auto: $(head -c 300 err.txt)"
$B/cnntrain -v --device cpu --train missing.npy -o m.safetensors 2>err.txt
[ "$(head -1 err.txt)" = "cnntrain: device: cpu" ] && ok "cnntrain -v --device cpu: 'device: cpu'" || notok "cnntrain -v cpu: $(head -c 300 err.txt)"
$B/cnntrain --train missing.npy -o m.safetensors 2>err.txt
[ "$(wc -l < err.txt)" = 1 ] && ! grep -q device err.txt && ok "cnntrain without -v: no device line (default auto)" \
    || notok "cnntrain default: $(head -c 300 err.txt)"
$B/cnneval --scan -v --device auto missing.safetensors missing.wav 2>err.txt
grep -q '^cnneval: device: cpu (auto: ' err.txt && ok "cnneval --scan -v: the device line" || notok "cnneval --scan -v: $(head -c 300 err.txt)"
$B/cnntrain --help | grep -q -- '--device cpu|cuda|cuda:N|auto' && $B/cnntrain --help | grep -q -- '--deterministic' \
    && ok "cnntrain --help: --device and --deterministic" || notok "cnntrain --help lacks --device"
$B/cnneval --help | grep -q -- '--device cpu|cuda|cuda:N|auto' && ok "cnneval --help: --device" || notok "cnneval --help lacks --device"
