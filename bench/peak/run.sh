#!/usr/bin/env bash
# bench/peak: this machine's single-precision FMA peak (AVX2 and AVX-512, one thread and every core),
# measured with 12 independent FMA chains per thread (bench/peak/peak.c), best of three tries of SECONDS
# each (environment, default 0.5). Its last line, "PEAK_GFLOPS=X PEAK_GFLOPS_1=Y", is what `make bench`
# passes to the other benchmarks, which print their GFLOP/s as a share of it.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -pthread bench/peak/peak.c -o "$tmp/peak"
echo "bench/peak: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load: $(uptime | sed 's/.*load average/load average/')"
"$tmp/peak" "${SECONDS_EACH:-0.5}"
