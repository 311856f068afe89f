#!/usr/bin/env bash
# Start a private single-node SLURM cluster on localhost (for tests and demos).
#
#   scripts/slurm/up.sh            # start (or find running) cluster in $SYNTHDETECT_SLURM_DIR
#   source "$SYNTHDETECT_SLURM_DIR/env.sh"   # sets SLURM_CONF for sinfo/sbatch/snakemake
#   scripts/slurm/down.sh          # stop it again
#
# Everything lives under one runtime directory (default /tmp/synthdetect-slurm):
# slurm.conf, a private munge key and socket, state/spool dirs, logs, PID files.
# SLURM's commands and daemons read the config named by the SLURM_CONF environment
# variable, and slurm.conf's AuthInfo points them at the private munged socket, so
# /etc/munge is never used. Export SLURM_CONF (env.sh) in every shell that talks to
# this cluster, including the one running snakemake.
#
# One exception: snakemake-executor-plugin-slurm-jobstep (0.6.x) deletes every
# SLURM_* variable, SLURM_CONF included, before the `srun` it runs inside each job,
# so that srun only finds the default /etc/slurm/slurm.conf ("fetch_config: DNS SRV
# lookup failed" otherwise). Therefore, when /etc/slurm/slurm.conf does not exist
# (or is a link left by an earlier up.sh), it is made a symlink to $RT/slurm.conf;
# down.sh removes it again. An existing foreign /etc/slurm/slurm.conf is never
# touched: the cluster still starts, but snakemake jobs would talk to that other
# cluster, which up.sh reports as SYNTHDETECT_SLURM_ETC_LINK=no (tests skip then).
#
# Idempotent: when the daemons recorded in the PID files are alive it only waits
# for the node to be idle. Concurrent calls are serialised with flock.
#
# Environment knobs:
#   SYNTHDETECT_SLURM_DIR          runtime dir            (default /tmp/synthdetect-slurm)
#   SYNTHDETECT_SLURM_TIMEOUT      seconds to wait for the node to become idle (default 60)
#   SYNTHDETECT_SLURMCTLD_PORT     slurmctld port         (default 6817)
#   SYNTHDETECT_SLURMD_PORT        slurmd port            (default 6818)
#   SYNTHDETECT_SLURM_MIN_JOB_AGE  MinJobAge seconds      (default 600; keep >= 300, see below)
#   SYNTHDETECT_SLURM_NO_INSTALL=1 never call apt-get
#   SYNTHDETECT_SLURM_LINK_ETC=0   never create the /etc/slurm/slurm.conf symlink
#
# Exit status: 0 cluster up; 77 SLURM/munge missing and cannot be installed
# (not root, apt failed, ...) -- callers may treat this as "skip"; 1 anything else.
# The last lines on stdout are machine readable:
#   SLURM_CONF=<path>
#   SYNTHDETECT_SLURM_ETC_LINK=yes|no      (does /etc/slurm/slurm.conf resolve to it?)
#   SYNTHDETECT_SLURM_STATE=started|running
#
# Why these settings (see /work/shared/DESIGN.md, "SLURM facts seen here"):
# * No slurmdbd: snakemake-executor-plugin-slurm must use `squeue` for job status
#   (--slurm-status-command squeue) and silently falls back to sacct -- which then
#   never sees the jobs -- unless MinJobAge >= 3 x --slurm-init-seconds-before-status-checks.
#   MinJobAge also keeps finished jobs visible to squeue/scontrol for that long.
# * The node is called "localhost" whatever the hostname is; slurmd gets -N localhost.
# * jobcomp/filetxt keeps a permanent one-line-per-job record in log/jobcomp.log.
set -euo pipefail

RT=${SYNTHDETECT_SLURM_DIR:-/tmp/synthdetect-slurm}
TIMEOUT=${SYNTHDETECT_SLURM_TIMEOUT:-60}
CTLD_PORT=${SYNTHDETECT_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SYNTHDETECT_SLURMD_PORT:-6818}
MIN_JOB_AGE=${SYNTHDETECT_SLURM_MIN_JOB_AGE:-600}
NODE=localhost
ETC_CONF=/etc/slurm/slurm.conf
PACKAGES=(munge slurmctld slurmd slurm-client)
export PATH="/usr/sbin:/sbin:$PATH"

log() { echo "[slurm/up] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
unavailable() { log "UNAVAILABLE: $*"; exit 77; }

mkdir -p "$RT"
RT=$(cd "$RT" && pwd -P)
CONF="$RT/slurm.conf"
MUNGE_DIR="$RT/munge"
SOCKET="$MUNGE_DIR/munge.socket.2"
export SLURM_CONF="$CONF"

# fd 9 holds the lock; daemons are started with 9>&- so they do not inherit it.
exec 9>"$RT/.lock"
flock -w 300 9 || die "could not lock $RT/.lock within 300 s"

# ---------------------------------------------------------------- install
have_all() {
  local c
  for c in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$c" >/dev/null 2>&1 || return 1
  done
}

install_packages() {
  local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  if [[ ${SYNTHDETECT_SLURM_NO_INSTALL:-0} == 1 ]]; then
    unavailable "SLURM is not installed and SYNTHDETECT_SLURM_NO_INSTALL=1"
  fi
  [[ $(id -u) == 0 ]] || unavailable "SLURM is not installed and we are not root; run: sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}"
  command -v apt-get >/dev/null || unavailable "SLURM is not installed and there is no apt-get"
  log "installing ${PACKAGES[*]} with apt-get"
  # Keep the packages' init scripts from starting system daemons (we run our own).
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local apt=(apt-get -q -y -o DPkg::Lock::Timeout=300 --no-install-recommends)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install "${PACKAGES[@]}" >"$RT/apt.log" 2>&1; then
    log "apt-get install failed; running apt-get update and retrying"
    { apt-get -q -o DPkg::Lock::Timeout=300 update && "${apt[@]}" install "${PACKAGES[@]}"; } \
      >>"$RT/apt.log" 2>&1 || rc=$?
  fi
  [[ $made_policy == 1 ]] && rm -f "$policy"
  if [[ $rc != 0 ]]; then
    tail -n 20 "$RT/apt.log" >&2
    unavailable "apt-get install ${PACKAGES[*]} failed (log: $RT/apt.log)"
  fi
}

have_all || install_packages
have_all || unavailable "SLURM/munge commands still missing after install"

# ---------------------------------------------------------------- helpers
# alive NAME: the process in $RT/run/NAME.pid exists and is a NAME process.
alive() {
  local pidfile="$RT/run/$1.pid" pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$1" ]]
}

node_state() { timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1 || true; }

# registered_since TIME: slurmctld has heard from a slurmd started at or after TIME.
registered_since() {
  local t
  t=$(timeout 10 scontrol show node "$NODE" -o 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)
  [[ -n $t && ! $t < $1 ]]
}

show_logs() {
  local f
  for f in "$RT"/log/munged.log "$RT"/log/slurmctld.log "$RT"/log/slurmd.log "$RT"/log/*.out; do
    [[ -s $f ]] || continue
    echo "----- $f (last 25 lines) -----" >&2
    tail -n 25 "$f" >&2
  done
}

STARTED=()  # daemons this call started; on failure they are stopped again (down.sh)
fail() {
  log "ERROR: $*"
  show_logs
  if ((${#STARTED[@]})); then
    log "stopping what this call started (${STARTED[*]}); logs stay in $RT/log"
    exec 9>&- # down.sh takes the same lock
    SYNTHDETECT_SLURM_DIR="$RT" bash "$(dirname "${BASH_SOURCE[0]}")/down.sh" >&2 || true
  fi
  exit 1
}

# wait_pid NAME: a daemonizing NAME writes its PID file a moment after the parent returns.
wait_pid() {
  local _
  for _ in $(seq 100); do
    alive "$1" && return 0
    sleep 0.1
  done
  fail "$1 is not running (no live PID in $RT/run/$1.pid after 10 s)"
}

# Point /etc/slurm/slurm.conf at our config when that is safe (see the header).
link_etc_conf() {
  [[ ${SYNTHDETECT_SLURM_LINK_ETC:-1} == 0 ]] && return 0
  [[ $(readlink -f "$ETC_CONF" 2>/dev/null) == "$CONF" ]] && return 0
  if [[ -L $ETC_CONF ]]; then
    # ours from an earlier runtime dir (dangling, or generated by up.sh)?
    local target
    target=$(readlink -f "$ETC_CONF" 2>/dev/null || true)
    if [[ -e $target ]] && ! head -n1 "$target" 2>/dev/null | grep -q 'scripts/slurm/up.sh'; then
      return 0
    fi
  elif [[ -e $ETC_CONF ]]; then
    return 0
  fi
  if mkdir -p "$(dirname "$ETC_CONF")" 2>/dev/null && ln -sfn "$CONF" "$ETC_CONF" 2>/dev/null; then
    log "linked $ETC_CONF -> $CONF (removed by down.sh)"
  fi
}

finish() { # finish STATE: print the machine-readable result lines
  local linked=no
  [[ $(readlink -f "$ETC_CONF" 2>/dev/null) == "$CONF" ]] && linked=yes
  if [[ $linked == no ]]; then
    log "WARNING: $ETC_CONF is not this cluster's config. snakemake's slurm-jobstep"
    log "  executor strips SLURM_CONF before the srun inside each job, so snakemake jobs"
    log "  will fail or reach another cluster. Remove/rename $ETC_CONF (as root) and rerun."
  fi
  echo "SLURM_CONF=$CONF"
  echo "SYNTHDETECT_SLURM_ETC_LINK=$linked"
  echo "SYNTHDETECT_SLURM_STATE=$1"
}

# ---------------------------------------------------------------- already up?
if alive munged && alive slurmctld && alive slurmd; then
  state=$(node_state)
  case $state in
    idle | mixed | allocated | completing)
      log "cluster already running in $RT (node $NODE: $state)"
      link_etc_conf
      finish running
      exit 0
      ;;
  esac
  log "daemons alive but node state is '${state:-unknown}'; waiting"
fi

# ---------------------------------------------------------------- config
mkdir -p "$RT"/{run,log,state,spool/slurmd} "$MUNGE_DIR"
chmod 755 "$MUNGE_DIR"  # munged wants the socket dir searchable; the key itself is 0400
user=$(id -un)

if [[ ! -s $MUNGE_DIR/munge.key ]]; then
  log "generating munge key $MUNGE_DIR/munge.key"
  (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_DIR/munge.key.tmp")
  mv "$MUNGE_DIR/munge.key.tmp" "$MUNGE_DIR/munge.key"
fi
chmod 400 "$MUNGE_DIR/munge.key"

cpus=$(nproc)
mem_mb=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1 || true)
[[ -n $mem_mb ]] || mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
# Respect a cgroup (v2) memory limit, as in containers.
if [[ -r /sys/fs/cgroup/memory.max ]]; then
  lim=$(</sys/fs/cgroup/memory.max)
  if [[ $lim =~ ^[0-9]+$ ]] && ((lim / 1048576 < mem_mb)); then mem_mb=$((lim / 1048576)); fi
fi

conf_tmp="$CONF.tmp.$$"
cat >"$conf_tmp" <<EOF
# Generated by scripts/slurm/up.sh -- a private single-node test cluster.
ClusterName=synthdetect
SlurmctldHost=$NODE
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$RT/state
SlurmdSpoolDir=$RT/spool/slurmd
SlurmctldPidFile=$RT/run/slurmctld.pid
SlurmdPidFile=$RT/run/slurmd.pid
SlurmctldLogFile=$RT/log/slurmctld.log
SlurmdLogFile=$RT/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
# >= 3 x the executor plugin's first status delay, or it falls back to sacct
MinJobAge=$MIN_JOB_AGE
InactiveLimit=0
KillWait=10
Waittime=0
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$RT/log/jobcomp.log
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem_mb State=UNKNOWN
# DefMemPerCPU: a job that asks for no memory must not take the whole node
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=$((mem_mb / cpus))
EOF
mv "$conf_tmp" "$CONF"
link_etc_conf
cat >"$RT/env.sh" <<EOF
# source this file to talk to the test cluster started by scripts/slurm/up.sh
export SLURM_CONF=$CONF
EOF

# ---------------------------------------------------------------- start daemons
if ! alive munged; then
  rm -f "$SOCKET" "$SOCKET.lock"
  log "starting munged"
  STARTED+=(munged)
  munged --force --socket="$SOCKET" --key-file="$MUNGE_DIR/munge.key" \
    --pid-file="$RT/run/munged.pid" --log-file="$RT/log/munged.log" \
    --seed-file="$MUNGE_DIR/munged.seed" </dev/null >>"$RT/log/munged.out" 2>&1 9>&- ||
    fail "munged did not start"
  wait_pid munged
fi
for _ in $(seq 50); do
  if munge -n -S "$SOCKET" 2>/dev/null | unmunge -S "$SOCKET" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
munge -n -S "$SOCKET" 2>/dev/null | unmunge -S "$SOCKET" >/dev/null 2>&1 ||
  fail "munge credentials do not round-trip through $SOCKET"

if ! alive slurmctld; then
  log "starting slurmctld"
  STARTED+=(slurmctld)
  # -c: start from clean state (a test cluster keeps no jobs across restarts); -i: ignore state errors
  slurmctld -c -i </dev/null >>"$RT/log/slurmctld.out" 2>&1 9>&- || fail "slurmctld did not start"
  wait_pid slurmctld
fi
slurmd_started_at=""
if ! alive slurmd; then
  log "starting slurmd -N $NODE"
  STARTED+=(slurmd)
  slurmd_started_at=$(date +%Y-%m-%dT%H:%M:%S)
  slurmd -N "$NODE" </dev/null >>"$RT/log/slurmd.out" 2>&1 9>&- || fail "slurmd did not start"
  wait_pid slurmd
fi

# ---------------------------------------------------------------- wait for idle
deadline=$((SECONDS + TIMEOUT))
resumed=0
while :; do
  state=$(node_state)
  case $state in
    idle) # exactly: "idle*" means slurmd is not responding; and after a restart the
      # controller may report the saved state before the new slurmd has registered.
      [[ -z $slurmd_started_at ]] || registered_since "$slurmd_started_at" && break
      ;;
    down* | drain* | fail*)
      if [[ $resumed == 0 ]]; then
        log "node is '$state'; resuming it"
        timeout 10 scontrol update NodeName="$NODE" State=RESUME >&2 || true
        resumed=1
      fi
      ;;
  esac
  for d in munged slurmctld slurmd; do alive "$d" || fail "$d died (node state '${state:-none}')"; done
  ((SECONDS < deadline)) || fail "node $NODE not idle after ${TIMEOUT}s (state '${state:-none}')"
  sleep 0.5
done

log "cluster up in $RT: node $NODE ($cpus CPUs, $mem_mb MB), partition debug"
cat >&2 <<EOF
[slurm/up] use it with:
    export SLURM_CONF=$CONF     # or: source $RT/env.sh
    sinfo; srun hostname
    snakemake --profile workflow/profiles/slurm --cores $cpus ...
  stop it with: scripts/slurm/down.sh   (same SYNTHDETECT_SLURM_DIR)
EOF
finish started
