# pipeline.mk on a real Slurm cluster: Debian's slurm-wlm and munge, a controller and three slurmd
# daemons on loopback (one machine, three nodes: ../shared/notes/slurm-local-cluster.md), make all and
# make scan with CMD=srun -j 6, jobs on more than one node, every output byte for byte the local run's,
# a job cancelled by the scheduler mid-run and a rerun that ends with the same bytes. Skips with its
# reason when Slurm cannot be installed or started.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
command -v sox >/dev/null || { skip "slurm: sox is needed to make test audio"; exit 0; }
[ "$(id -u)" = 0 ] || { skip "slurm: starting a cluster needs root"; exit 0; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >"$W/apt.log" 2>&1 \
        || { skip "slurm: cannot install slurm-wlm and munge: $(tail -n 1 "$W/apt.log")"; exit 0; }
fi

# --- the cluster --------------------------------------------------------------------------------------
C=$W/cluster; mkdir -p "$C"/{state,spool,run,log}
export SLURM_CONF=$C/slurm.conf
HOST=$(hostname -s)
started_munge=0
cleanup() {
    scontrol shutdown >/dev/null 2>&1
    for p in "$C"/run/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
    sleep 1
    for p in "$C"/run/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
    [ $started_munge = 1 ] && [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null
}
trap cleanup EXIT
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || mungekey -c -k /etc/munge/munge.key >/dev/null 2>&1
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge:munge /run/munge /var/lib/munge /var/log/munge
    su -s /bin/sh munge -c /usr/sbin/munged 2>"$W/munged.err" && started_munge=1
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || { skip "slurm: munged does not start: $(cat "$W/munged.err")"; exit 0; }
fi
cat > "$SLURM_CONF" <<EOF
ClusterName=audiocnn-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool/%n
SlurmctldPidFile=$C/run/slurmctld.pid
SlurmdPidFile=$C/run/slurmd-%n.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=n[1-3] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=16801-16803 CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
slurmctld 2>"$W/ctld.err" || { skip "slurm: slurmctld does not start: $(tail -n 1 "$W/ctld.err")"; exit 0; }
for n in n1 n2 n3; do slurmd -N $n 2>>"$W/slurmd.err"; done
for i in $(seq 60); do
    [ "$(sinfo -h -N -o '%t' 2>/dev/null | grep -cE '^(idle|mix|alloc)')" = 3 ] && break; sleep 0.5
done
[ "$(sinfo -h -N -o '%t' 2>/dev/null | grep -cE '^(idle|mix|alloc)')" = 3 ] \
    || { skip "slurm: the three nodes do not come up: $(sinfo -N 2>&1 | tail -n 3 | tr '\n' ' ') $(tail -n 2 "$C"/log/slurmctld.log)"; exit 0; }
[ "$(srun -N3 -n3 bash -c 'echo $SLURMD_NODENAME' 2>&1 | sort | tr '\n' ' ')" = "n1 n2 n3 " ] \
    && ok "slurm: a controller and three nodes on loopback run jobs (srun -N3 reaches n1 n2 n3)" \
    || { notok "slurm: srun -N3: $(srun -N3 -n3 hostname 2>&1 | tail -n 2)"; exit 0; }

# --- the data, and the local run to compare with ---------------------------------------------------------
D=$W/data
for c in cat dog owl; do
    mkdir -p "$D/$c"
    for i in 1 2 3 4 5 6 7 8; do sox -n -r 16000 -c 1 "$D/$c/${c}_$i.wav" synth 0.$((i + 2)) sine $((200 * i + ${#c} * 100)) 2>/dev/null; done
done
mkdir -p "$W/long"
sox "$D/cat/cat_1.wav" "$D/dog/dog_2.wav" "$D/owl/owl_3.wav" "$W/long/field.wav" 2>/dev/null
sox "$D/owl/owl_1.wav" "$D/cat/cat_2.wav" "$W/long/second.wav" 2>/dev/null
FAST=(MEL_OPTS="--n-mels 32" FRAMES=32 TRAIN_OPTS="--epochs 12 --threads 1" MODELS="baseline small" ARCH_small=baseline
      TRAIN_OPTS_small="--dropout 0.1" SCAN="$W/long" SCAN_MODEL=small SCAN_OPTS="--threshold 0.4" SHARD=4 SCAN_SHARD=1)
pm() { make --no-print-directory -C "$ROOT" -f pipeline.mk BIN="$BIN" DATA="$D" "${FAST[@]}" "$@"; }
strip() { # a copy without what differs from run to run by design: seconds per epoch, and the state
    cp -r "$1" "$2"
    for f in "$2"/models/*.history.tsv; do cut -f1-6 "$f" > "$f.x" && mv "$f.x" "$f"; done
    for f in "$2"/models/*.history.json; do grep -v '"seconds"' "$f" > "$f.x" && mv "$f.x" "$f"; done
    sed -E 's#<td class="n">[0-9.]+ (s|min|h)</td>#<td class="n">T</td>#g' "$2/report.html" > "$2/report.x" && mv "$2/report.x" "$2/report.html"
}
pm all OUT="$W/out" >"$W/local.log" 2>&1 || { notok "slurm: the local run failed: $(tail -n 3 "$W/local.log")"; exit 0; }
mv "$W/out" "$W/local"

# --- the same through srun, six jobs at a time ------------------------------------------------------------
cat > "$W/onnode" <<EOF
#!/bin/sh
# runs a job, noting the node it ran on and the tool
echo "\$SLURMD_NODENAME \$(basename "\$1")" >> "$W/nodes.log"
exec "\$@"
EOF
chmod +x "$W/onnode"
pm -j 6 all OUT="$W/out" CMD="srun -Q $W/onnode" >"$W/srun.log" 2>&1; rc=$?
[ $rc = 0 ] && [ -s "$W/out/report.html" ] && [ -s "$W/out/scan/scores.tsv" ] \
    && ok "slurm: make -j 6 all (with SCAN) with CMD=srun: every job through the scheduler" || notok "slurm: make all CMD=srun: rc=$rc $(tail -n 3 "$W/srun.log")"
nodes=$(cut -d' ' -f1 "$W/nodes.log" | sort -u | tr '\n' ' ')
jobs=$(wc -l < "$W/nodes.log")
[ "$(echo $nodes | wc -w)" -ge 2 ] && grep -q ' cnntrain$' "$W/nodes.log" && grep -q ' cnneval$' "$W/nodes.log" && grep -q ' bash$' "$W/nodes.log" \
    && ok "slurm: $jobs jobs ran on nodes $nodes(spectrogram shards, training, evaluation, scans)" || notok "slurm: jobs by node: $(sort "$W/nodes.log" | uniq -c | tr '\n' ' ')"
strip "$W/local" "$W/a"; strip "$W/out" "$W/b"
diff -r "$W/a" "$W/b" >"$W/diff" 2>&1 && ok "slurm: every output (spectrograms, stacks, checkpoints, evaluations, scan, report) equals the local run's bytes" \
    || notok "slurm: srun run differs from the local one: $(head -n 5 "$W/diff")"
rm -rf "$W/a" "$W/b"

# --- a job cancelled by the scheduler mid-run, then the rerun -------------------------------------------
cat > "$W/cancelonce" <<EOF
#!/bin/sh
# the first training job is cancelled (scancel) while it runs
if mkdir "$W/cancelled" 2>/dev/null; then
    "\$@" & pid=\$!; sleep 0.05; kill -0 \$pid 2>/dev/null && echo running > "$W/cancelled/state"; scancel "\$SLURM_JOB_ID"; wait; exit 1
fi
exec "\$@"
EOF
chmod +x "$W/cancelonce"
rm -rf "$W/out/models" "$W/out/eval" "$W/out/report.html" "$W/out/scan"
pm -j 6 all OUT="$W/out" CMD="srun -Q" CMD_TRAIN="srun -Q $W/cancelonce" >"$W/cancel.log" 2>&1; rc=$?
[ $rc != 0 ] && [ "$(cat "$W/cancelled/state" 2>/dev/null)" = running ] && ! ls "$W"/out/models/*.tmp* >/dev/null 2>&1 \
    && ok "slurm: a training job cancelled mid-run stops make with an error, nothing half-written" \
    || notok "slurm: cancelled job: rc=$rc $(tail -n 3 "$W/cancel.log")"
pm -j 6 all OUT="$W/out" CMD="srun -Q" >"$W/rerun.log" 2>&1; rc=$?
strip "$W/local" "$W/a"; strip "$W/out" "$W/b"
[ $rc = 0 ] && diff -r "$W/a" "$W/b" >"$W/diff" 2>&1 && ok "slurm: the rerun finishes with the local run's bytes" \
    || notok "slurm: rerun: rc=$rc $(tail -n 2 "$W/rerun.log") $(head -n 3 "$W/diff")"
pm -q all OUT="$W/out" CMD="srun -Q" >/dev/null 2>&1 && ok "slurm: then make -q says everything is up to date" || notok "slurm: out of date after the rerun"
