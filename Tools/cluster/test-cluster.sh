#!/bin/sh
# make test-cluster: loupe batch on a real Slurm cluster of one machine.
#
# Starts munged, slurmctld and slurmd on localhost (their own key, ports, spool and logs in a
# temporary folder; no cgroups: proctrack/linuxproc, task/none), submits `sbatch --array=0-3` over
# 48 images on the Fashion-MNIST model, kills one array task midway with `scancel --signal=KILL`,
# checks that `loupe merge` names that shard's missing images, resubmits the task, and checks that
# the merged run equals a one-process run of the same data: the same records apart from their
# times, byte-equal files. Everything it started is stopped on exit, failure or not.
# Then validates docs/scale-out.md's Kubernetes manifest (Tools/k8s/validate.sh) where pip is.
#
# Needs the release build (make test builds it) and Debian's slurm-wlm and munge
# (Tools/install-deps.sh cluster installs them). Runs the daemons as root (sudo when not root).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LOUPE="$ROOT/.build/release/loupe"
[ -x "$LOUPE" ] || { echo "test-cluster: $LOUPE is missing; build first (make test)" >&2; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -E"

WORK=$(mktemp -d /tmp/loupe-cluster.XXXXXX)
chmod 755 "$WORK"
HOST=$(hostname -s)
CONF="$WORK/slurm.conf"
export SLURM_CONF="$CONF"
started=$(date +%s)

log() { echo "test-cluster: $*"; }

stop_everything() {
    status=$?
    set +e
    scancel --quiet --user="$(id -un)" >/dev/null 2>&1
    for daemon in slurmd slurmctld munged; do
        [ -f "$WORK/$daemon.pid" ] && $sudo kill "$(cat "$WORK/$daemon.pid")" 2>/dev/null
    done
    sleep 1
    for daemon in slurmd slurmctld munged; do
        [ -f "$WORK/$daemon.pid" ] && $sudo kill -9 "$(cat "$WORK/$daemon.pid")" 2>/dev/null
    done
    if [ "$status" -ne 0 ]; then
        echo "test-cluster: FAILED; the daemons' and jobs' logs:" >&2
        for file in "$WORK"/*.log "$WORK"/logs/*; do
            [ -f "$file" ] && { echo "== $file" >&2; tail -n 20 "$file" >&2; }
        done
    fi
    $sudo rm -rf "$WORK"
    exit "$status"
}
trap stop_everything EXIT
trap 'exit 130' INT TERM

# A free pair of ports, so that a Slurm already on this machine is left alone.
port=$((20000 + $$ % 20000))

# munged with a key of its own.
$sudo mungekey --create --keyfile="$WORK/munge.key" 2>/dev/null || $sudo dd if=/dev/urandom of="$WORK/munge.key" bs=1024 count=1 2>/dev/null
$sudo chmod 400 "$WORK/munge.key"
$sudo munged --force --socket="$WORK/munge.socket" --key-file="$WORK/munge.key" --pid-file="$WORK/munged.pid" \
    --log-file="$WORK/munged.log" --seed-file="$WORK/munge.seed"

user=$(id -un)
[ -n "$sudo" ] && slurm_user=root || slurm_user=$user
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/logs" "$WORK/data"
cat >"$CONF" <<EOF
ClusterName=loupe-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$slurm_user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=loupe Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
$sudo slurmctld -f "$CONF"
$sudo slurmd -f "$CONF"

# Wait for the node.
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || { echo "test-cluster: the node did not come up (state '$state')" >&2; exit 1; }
log "slurm $(sinfo -V | cut -d' ' -f2) up on $HOST after $(( $(date +%s) - started )) s"

# 48 images: the 12 Fashion-MNIST samples four times, in a manifest.
mkdir -p "$WORK/data/fashion"
cp Samples/fashion/*.png "$WORK/data/fashion/"
echo "path,label" >"$WORK/data/images.csv"
for round in 1 2 3 4; do
    for file in "$WORK"/data/fashion/*.png; do echo "fashion/$(basename "$file")," >>"$WORK/data/images.csv"; done
done

# The job runs docs/scale-out.md's script, Tools/cluster/loupe-array.sbatch, with these settings.
export LOUPE="$LOUPE" LOUPE_MODEL="$ROOT/Models/fashion-cnn.safetensors" LOUPE_DATA="$WORK/data/images.csv"
export LOUPE_METHODS=saliency,grad-cam,occlusion LOUPE_OUT="$WORK/run"
OPTIONS="--window 4 --stride 2 --pass-size 2 --metrics deletion,insertion --metric-option deletion.step=4
    --metric-option insertion.step=4"
submit() {
    sbatch --parsable --chdir="$ROOT" --output="$WORK/logs/%A_%a.out" --cpus-per-task=1 "$@"
}

job=$(submit --array=0-3 Tools/cluster/loupe-array.sbatch $OPTIONS)
log "submitted array job $job (tasks 0-3)"

# Kill task 1 once it has finished some images but not all.
records="$WORK/run/shards/1-of-4.jsonl"
killed=""
for _ in $(seq 600); do
    lines=$(cat "$records" 2>/dev/null | wc -l)
    if [ "$lines" -ge 1 ] && [ "$lines" -lt 12 ]; then
        scancel --signal=KILL "${job}_1"
        killed=$lines
        break
    fi
    sleep 0.1
done
[ -n "$killed" ] || { echo "test-cluster: never caught task 1 midway" >&2; exit 1; }
log "killed task ${job}_1 with SIGKILL after $killed of its 12 images"

wait_for() {
    for _ in $(seq 1200); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    echo "test-cluster: job $1 did not finish" >&2
    exit 1
}
wait_for "$job"

if "$LOUPE" merge "$WORK/run" 2>"$WORK/merge.err"; then
    echo "test-cluster: merge succeeded with task 1 killed" >&2
    exit 1
fi
grep -q "shard 1 of 4" "$WORK/merge.err" || { echo "test-cluster: merge did not name shard 1: $(cat "$WORK/merge.err")" >&2; exit 1; }
log "merge refused: $(cat "$WORK/merge.err")"

again=$(submit --array=1 Tools/cluster/loupe-array.sbatch $OPTIONS --shard 1/4)
log "resubmitted task 1 as $again (--shard 1/4)"
wait_for "$again"
"$LOUPE" merge "$WORK/run"

# The same run in one process, outside Slurm.
"$LOUPE" batch --model "$LOUPE_MODEL" --data "$LOUPE_DATA" --methods "$LOUPE_METHODS" $OPTIONS --out "$WORK/single" \
    --quiet >/dev/null
"$LOUPE" merge "$WORK/single" >/dev/null
without_times() { sed -E 's/"seconds":\{[^}]*\},//' "$1"; }
without_times "$WORK/run/index.jsonl" >"$WORK/run.records"
without_times "$WORK/single/index.jsonl" >"$WORK/single.records"
cmp -s "$WORK/run.records" "$WORK/single.records" || { echo "test-cluster: the cluster's records differ from one process's" >&2; exit 1; }
diff -r "$WORK/run/items" "$WORK/single/items" >/dev/null || { echo "test-cluster: the cluster's files differ from one process's" >&2; exit 1; }
[ "$(wc -l <"$WORK/run.records")" -eq 48 ] || { echo "test-cluster: expected 48 records" >&2; exit 1; }
log "the merged cluster run equals one process's: 48 records, $(find "$WORK/run/items" -type f | wc -l) files"

# docs/scale-out.md shows the script this test ran, as it is.
awk '/^```sh$/ { inside = 1; next } /^```/ { if (inside) exit; next } inside' docs/scale-out.md >"$WORK/documented.sbatch"
cmp -s "$WORK/documented.sbatch" Tools/cluster/loupe-array.sbatch \
    || { echo "test-cluster: docs/scale-out.md's sbatch script differs from Tools/cluster/loupe-array.sbatch" >&2; exit 1; }
sh Tools/k8s/validate.sh
log "passed in $(( $(date +%s) - started )) s"
