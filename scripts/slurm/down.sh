#!/usr/bin/env bash
# Stop the private SLURM cluster started by scripts/slurm/up.sh.
#
#   scripts/slurm/down.sh          # same SYNTHDETECT_SLURM_DIR as up.sh (default /tmp/synthdetect-slurm)
#
# Cancels the cluster's jobs, stops slurmd, slurmctld and munged by the PIDs in
# $SYNTHDETECT_SLURM_DIR/run/*.pid (TERM, then KILL after a grace period), waits
# for them to exit and kills any slurmstepd left behind that belongs to this
# cluster (found by SLURM_CONF in its environment). Never touches other SLURM or
# munge daemons on the machine. It removes the /etc/slurm/slurm.conf symlink that
# up.sh made (only if it points into this runtime dir). The runtime dir (config, key, logs) is kept;
# pass --purge to delete it as well. Exit status 0 when nothing of ours is left.
set -uo pipefail

RT=${SYNTHDETECT_SLURM_DIR:-/tmp/synthdetect-slurm}
GRACE=${SYNTHDETECT_SLURM_STOP_GRACE:-15}
PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1
export PATH="/usr/sbin:/sbin:$PATH"

log() { echo "[slurm/down] $*" >&2; }

if [[ ! -d $RT ]]; then
  log "nothing to stop: $RT does not exist"
  exit 0
fi
RT=$(cd "$RT" && pwd -P)
CONF="$RT/slurm.conf"
export SLURM_CONF="$CONF"

exec 9>"$RT/.lock"
flock -w 120 9 || log "warning: could not lock $RT/.lock; going on"

# pid_of NAME: PID from run/NAME.pid if that process is alive and is NAME.
pid_of() {
  local pidfile="$RT/run/$1.pid" pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$1" ]] || return 1
  echo "$pid"
}

# our_stepds: slurmstepd processes whose environment names this cluster's config.
our_stepds() {
  local p
  for p in $(pgrep -x slurmstepd 2>/dev/null); do
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && echo "$p"
  done
}

wait_gone() { # wait_gone SECONDS PID...
  local deadline=$((SECONDS + $1)) p left
  shift
  while :; do
    left=()
    for p in "$@"; do [[ -d /proc/$p ]] && left+=("$p"); done
    ((${#left[@]} == 0)) && return 0
    ((SECONDS >= deadline)) && { echo "${left[*]}"; return 1; }
    sleep 0.2
  done
}

stop() { # stop NAME...: SIGTERM all at once (each takes ~2 s to exit), SIGKILL stragglers
  local name pid pids=() left
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null
      pids+=("$pid")
    fi
  done
  if ((${#pids[@]})) && ! left=$(wait_gone "$GRACE" "${pids[@]}"); then
    log "pids $left ignored SIGTERM for ${GRACE}s; sending SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 5 $left >/dev/null || log "ERROR: pids $left survived SIGKILL"
  fi
  for name in "$@"; do pid_of "$name" >/dev/null || rm -f "$RT/run/$name.pid"; done
}

# 1. cancel this cluster's jobs while the controller is still up, so slurmd tears them down.
if pid_of slurmctld >/dev/null && command -v scancel >/dev/null; then
  jobs=$(timeout 10 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null | tr '\n' ' ')
  if [[ -n ${jobs// /} ]]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    deadline=$((SECONDS + GRACE))
    while ((SECONDS < deadline)) &&
      [[ -n $(timeout 10 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null) ||
      -n $(our_stepds) ]]; do
      sleep 0.5
    done
  fi
fi

# 2. the daemons
stop slurmd slurmctld munged

# 3. anything of ours left over
status=0
strays=$(our_stepds | tr '\n' ' ')
if [[ -n ${strays// /} ]]; then
  log "killing stray slurmstepd: $strays"
  # shellcheck disable=SC2086
  kill -KILL $strays 2>/dev/null
  # shellcheck disable=SC2086
  wait_gone 5 $strays >/dev/null || { log "ERROR: stray slurmstepd survived: $strays"; status=1; }
fi
for d in slurmd slurmctld munged; do
  if pid_of "$d" >/dev/null; then
    log "ERROR: $d still running"
    status=1
  fi
done
rm -f "$RT/munge/munge.socket.2" "$RT/munge/munge.socket.2.lock"
# the /etc/slurm/slurm.conf symlink that up.sh made, if it points here
ETC_CONF=/etc/slurm/slurm.conf
if [[ -L $ETC_CONF && $(readlink -f "$ETC_CONF" 2>/dev/null) == "$CONF" ]]; then
  rm -f "$ETC_CONF" && log "removed symlink $ETC_CONF"
fi

if ((PURGE && status == 0)); then
  exec 9>&-
  rm -rf "$RT"
  log "removed $RT"
fi
((status == 0)) && log "cluster in $RT stopped"
exit "$status"
