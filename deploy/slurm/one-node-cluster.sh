#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the array jobs and for CI: slurmctld and slurmd on
# localhost, run as root, with a generated slurm.conf and munge key. Debian 12 packages: slurm-wlm, munge.
#
#   sudo deploy/slurm/one-node-cluster.sh install   # apt-get the two packages (where they are missing)
#   sudo deploy/slurm/one-node-cluster.sh start     # write the configuration, start munged, slurmctld, slurmd; wait until the node is idle
#   sudo deploy/slurm/one-node-cluster.sh stop      # stop the three daemons
#
# Not for a real cluster: it runs everything as root, tracks processes by their parents (no cgroups, which a
# container often lacks) and gives the node all of this machine's cores.
set -euo pipefail

state=${SLURM_TEST_STATE:-/var/tmp/mlnet-classify-slurm}
conf=/etc/slurm/slurm.conf
host=$(hostname -s)

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q slurm-wlm munge >/dev/null
}

start() {
  mkdir -p "$state/ctld" "$state/d" /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  # munged refuses some folder ownerships and permissions a container gives; --force starts it anyway.
  pgrep -x munged >/dev/null || munged --force
  cat > "$conf" <<CONF
ClusterName=mlnetclassify
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
      echo "one-node Slurm cluster up: $(sinfo -h -N -o '%N %c CPUs %T')"
      return
    fi
    scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
    sleep 1
  done
  echo "error: the Slurm node did not become idle within 60 s; see $state/slurmctld.log and $state/slurmd.log" >&2
  exit 1
}

stop() {
  for daemon in slurmd slurmctld munged; do pkill -x "$daemon" 2>/dev/null || true; done
  # Wait for them to exit, so that a start right after this one starts new daemons.
  for _ in $(seq 1 50); do
    running=0
    for daemon in slurmd slurmctld munged; do pgrep -x "$daemon" >/dev/null && running=1; done
    [ "$running" = 0 ] && return 0
    sleep 0.2
  done
  echo "warning: Slurm daemons still running 10 s after SIGTERM" >&2
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
