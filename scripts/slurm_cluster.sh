#!/usr/bin/env bash
# A real single-node SLURM with accounting on localhost, for the sweep runner's integration tests.
#
#   scripts/slurm_cluster.sh start [STATE_DIR]   install (Debian packages, needs root + apt) and start
#                                                munge, MariaDB, slurmdbd, slurmctld, slurmd; prints STATE_DIR/env.sh
#   scripts/slurm_cluster.sh stop  [STATE_DIR]   cancel jobs, stop every daemon this script started (by PID file)
#   scripts/slurm_cluster.sh status [STATE_DIR]
#
# Everything (configs, state, spool, logs, PID files, the database) lives under STATE_DIR (default
# /tmp/scaling-slurm); clients find the cluster through SLURM_CONF=STATE_DIR/etc/slurm.conf (`. STATE_DIR/env.sh`).
# Facts behind the settings: ../shared/notes/slurm-localhost.md (no systemd, no cgroups, accounting needed by
# submitit, cred_expire=10 so a requeued job restarts within seconds).
set -euo pipefail

ACTION=${1:-}
STATE=${2:-${SCALING_SLURM_DIR:-/tmp/scaling-slurm}}
HOST=$(hostname -s)
CPUS=${SCALING_SLURM_CPUS:-$(( $(nproc) * 2 ))}
DB_PORT=${SCALING_SLURM_DB_PORT:-3307}
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
PIDS=$STATE/pid
PACKAGES="munge slurm-client slurmctld slurmd slurmdbd mariadb-server"

die() { echo "slurm_cluster: $*" >&2; exit 1; }
log() { echo "slurm_cluster: $*" >&2; }

# ---- processes, by PID file only --------------------------------------------------------------------------
alive() {  # PID: running and not a zombie
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ "$state" != "Z" ]]
}

stop_pidfile() {  # NAME COMM: stop the process in PIDS/NAME.pid if its /proc comm is COMM
    local file=$PIDS/$1.pid pid
    [[ -f $file ]] || return 0
    pid=$(tr -dc '0-9' < "$file")
    if [[ -n "$pid" ]] && alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do alive "$pid" || break; sleep 0.5; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        log "stopped $1 (pid $pid)"
    fi
    rm -f "$file"
}

wait_for() {  # SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local limit=$1 what=$2; shift 2
    for _ in $(seq 1 $(( limit * 4 ))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "$what did not come up within ${limit}s (logs in $STATE/log)"
}

# ---- install ----------------------------------------------------------------------------------------------
install_packages() {
    local missing=()
    for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "packages missing (${missing[*]}) and not root"
    command -v apt-get >/dev/null || die "packages missing (${missing[*]}) and no apt-get"
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_configs() {
    mkdir -p "$STATE"/{etc,state,spool,log,pid,db}
    cat > "$STATE/etc/slurm.conf" <<EOF
ClusterName=scaling
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    cat > "$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost=$HOST
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$PIDS/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
    chmod 600 "$STATE/etc/slurmdbd.conf"
    echo "export SLURM_CONF=$STATE/etc/slurm.conf" > "$STATE/env.sh"
}

# ---- daemons ----------------------------------------------------------------------------------------------
start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi  # a munged already serves this host
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    if [[ ! -f /etc/munge/munge.key ]]; then mungekey --create && chown munge:munge /etc/munge/munge.key; fi
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$PIDS/munged.pid"
    wait_for 10 munge sh -c 'munge -n | unmunge'
}

start_mariadb() {
    if [[ ! -d $STATE/db/mysql ]]; then
        mariadb-install-db --datadir="$STATE/db" --user=root --auth-root-authentication-method=normal \
            --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1
    fi
    nohup mariadbd --user=root --datadir="$STATE/db" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --socket="$STATE/db/mysql.sock" --pid-file="$PIDS/mariadb.pid" --skip-grant-tables \
        --log-error="$STATE/log/mariadb.log" >/dev/null 2>&1 &
    echo $! > "$PIDS/mariadb.pid"
    wait_for 30 MariaDB mariadb-admin --socket="$STATE/db/mysql.sock" ping
}

start() {
    [[ -f $PIDS/slurmctld.pid ]] && alive "$(cat "$PIDS/slurmctld.pid")" && { log "already running ($STATE)"; echo "$STATE/env.sh"; return 0; }
    install_packages
    write_configs
    export SLURM_CONF=$STATE/etc/slurm.conf
    start_munge
    start_mariadb
    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
    slurmctld
    wait_for 30 slurmctld scontrol ping
    slurmd
    wait_for 30 "slurmd (node idle)" sh -c "sinfo -h -N -o %T | grep -qx idle"
    log "up: SLURM_CONF=$SLURM_CONF, node $HOST with $CPUS CPUs"
    echo "$STATE/env.sh"
}

stop() {
    [[ -d $STATE ]] || return 0
    export SLURM_CONF=$STATE/etc/slurm.conf
    if [[ -f $PIDS/slurmctld.pid ]] && alive "$(cat "$PIDS/slurmctld.pid")"; then
        squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
        sleep 1
    fi
    stop_pidfile slurmd slurmd
    stop_pidfile slurmctld slurmctld
    stop_pidfile slurmdbd slurmdbd
    stop_pidfile mariadb mariadbd
    stop_pidfile munged munged
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status) export SLURM_CONF=$STATE/etc/slurm.conf; sinfo && squeue ;;
    *) die "usage: $0 start|stop|status [STATE_DIR]" ;;
esac
