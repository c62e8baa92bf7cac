#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for the workflow's cluster test, from
# Debian's packages: munge, MariaDB + slurmdbd (accounting: sacct), slurmctld and
# slurmd, every daemon started by hand (no systemd here) and stopped by its PID.
#
#   scripts/slurm-test-cluster.sh install        # apt packages (services kept from starting)
#   scripts/slurm-test-cluster.sh start DIR      # configuration, logs and PID files in DIR
#   scripts/slurm-test-cluster.sh stop DIR
#
# After `start`, clients need SLURM_CONF=DIR/slurm.conf (it is printed last).
# Needs root. Facts this follows: cgroup plugins do not work in these machines
# (proctrack/linuxproc, task/affinity); slurmdbd.conf must be 0600 and owned by
# slurm; the cluster is registered with sacctmgr before slurmctld starts.
set -euo pipefail

CLUSTER=vidjiltest
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

log() { echo "slurm-test-cluster: $*" >&2; }

install_packages() {
    if dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
        return 0
    fi
    # Keep the packages' services from starting on install (no systemd).
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    log "timed out waiting for $what"
    return 1
}

start() {
    local dir
    dir=$(realpath -m "$1")
    mkdir -p "$dir/run"
    chmod 755 "$dir"
    chmod 1777 "$dir/run"  # PID files of daemons running as munge, mysql and slurm
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))

    # munge
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- munged --pid-file="$dir/run/munged.pid" --socket=/run/munge/munge.socket.2
    wait_for 10 munge munge -n

    # MariaDB for slurmdbd
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    (mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
        --pid-file="$dir/run/mariadb.pid" --skip-networking=0 --bind-address=127.0.0.1 \
        > "$dir/mariadb.log" 2>&1 &)
    wait_for 30 MariaDB mariadb -e "SELECT 1"
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

    mkdir -p /var/spool/slurmctld /var/spool/slurmd
    chown slurm:slurm /var/spool/slurmctld
    cat > "$dir/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/run/slurmctld.log
SlurmdLogFile=$dir/run/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurm
LogFile=$dir/run/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
CONF
    chown slurm:slurm "$dir/slurmdbd.conf"
    chmod 600 "$dir/slurmdbd.conf"
    # Job steps (srun inside sbatch jobs) read the default location, not SLURM_CONF.
    mkdir -p /etc/slurm
    for conf in slurm.conf slurmdbd.conf; do
        if [ -e "/etc/slurm/$conf" ] && [ ! -L "/etc/slurm/$conf" ]; then
            log "/etc/slurm/$conf exists and is not this script's link: not touching a real cluster"
            return 1
        fi
        ln -sfn "$dir/$conf" "/etc/slurm/$conf"
    done
    export SLURM_CONF="$dir/slurm.conf"

    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    slurmctld
    wait_for 30 slurmctld scontrol ping
    slurmd
    wait_for 60 "the node" sh -c "sinfo -h -o %T | grep -qx idle"
    log "up: SLURM_CONF=$dir/slurm.conf"
    echo "$dir/slurm.conf"
}

stop() {
    local dir
    dir=$(realpath -m "$1")
    for daemon in slurmd slurmctld slurmdbd mariadb munged; do
        local pidfile="$dir/run/$daemon.pid"
        if [ -s "$pidfile" ]; then
            local pid
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
    for conf in slurm.conf slurmdbd.conf; do
        if [ "$(readlink "/etc/slurm/$conf" 2>/dev/null)" = "$dir/$conf" ]; then
            rm -f "/etc/slurm/$conf"
        fi
    done
}

case "${1:-}" in
    install) install_packages ;;
    start) start "${2:?usage: $0 start DIR}" ;;
    stop) stop "${2:?usage: $0 stop DIR}" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
