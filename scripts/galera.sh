#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster (multi-primary) on this machine, for the Galera suite
# (test/galera). It runs BESIDE the main MariaDB, which keeps 127.0.0.1:3306 and is never
# touched: every node reads only its own option file (--defaults-file, never /etc/mysql), has
# its own datadir, socket and pid file under $GALERA_BASE, and listens on 127.0.0.1 only.
#
#   scripts/galera.sh start    install galera-4/rsync if missing (root), start the nodes that
#                              are not running (node 1 bootstraps with --wsrep-new-cluster when
#                              none is), then wait as below. A healthy cluster is left alone.
#   scripts/galera.sh wait     block until all three nodes answer over TCP as root (no password),
#                              wsrep_cluster_size=3 and each is Synced/Primary; at most
#                              GALERA_WAIT_SECONDS. Fails early if a node's process is gone.
#   scripts/galera.sh status   one line per node; exit 0 only when the cluster is healthy.
#   scripts/galera.sh stop     clean shutdown (SIGTERM) of nodes 3, 2, then 1, so node 1 is the
#                              last to leave and can bootstrap the next start without a transfer.
#   scripts/galera.sh reset    stop, then delete $GALERA_BASE (the next start is cold).
#
# Environment (defaults in brackets):
#   GALERA_BASE [/var/tmp/latchkey-galera]   data, logs, sockets; outside the repository
#   GALERA_SQL_PORT [3311]    node n serves SQL on GALERA_SQL_PORT+n-1 (3311, 3312, 3313)
#   GALERA_GCOMM_PORT [4711]  group communication (gmcast.listen_addr, base_port), +n-1
#   GALERA_IST_PORT [4721]    incremental state transfer (ist.recv_addr), +n-1
#   GALERA_SST_PORT [4731]    full state transfer by rsync (wsrep_sst_receive_address), +n-1
#   GALERA_RETRY_AUTOCOMMIT [0]  wsrep_retry_autocommit: 0 so that a certification failure
#                              reaches the application (latchkey's own retry is what is tested);
#                              MariaDB's default is 1. Applied to running nodes by `start` too.
#   GALERA_SYNC_WAIT [0]      wsrep_sync_wait (Galera's default 0: reads may be stale on a node
#                              that has not applied another node's commit yet). Also applied live.
#   GALERA_WAIT_SECONDS [180] bound for `wait` (and for node 1 during `start`)
set -euo pipefail

BASE=${GALERA_BASE:-/var/tmp/latchkey-galera}
SQL_PORT=${GALERA_SQL_PORT:-3311}
GCOMM_PORT=${GALERA_GCOMM_PORT:-4711}
IST_PORT=${GALERA_IST_PORT:-4721}
SST_PORT=${GALERA_SST_PORT:-4731}
RETRY_AUTOCOMMIT=${GALERA_RETRY_AUTOCOMMIT:-0}
SYNC_WAIT=${GALERA_SYNC_WAIT:-0}
WAIT_SECONDS=${GALERA_WAIT_SECONDS:-180}
STOP_SECONDS=${GALERA_STOP_SECONDS:-90}
NODES=(1 2 3)
PROVIDER=/usr/lib/galera/libgalera_smm.so
MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}
CLIENT=${MARIADB_CLIENT:-mariadb}

say() { printf '[galera] %s\n' "$*"; }
die() { printf '[galera] ERROR: %s\n' "$*" >&2; exit 1; }

for v in SQL_PORT GCOMM_PORT IST_PORT SST_PORT RETRY_AUTOCOMMIT SYNC_WAIT WAIT_SECONDS STOP_SECONDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "GALERA_$v must be a number, not '${!v}'"
done
# Twelve distinct ports, none of them the main server's.
ports=()
for n in "${NODES[@]}"; do ports+=($((SQL_PORT + n - 1)) $((GCOMM_PORT + n - 1)) $((IST_PORT + n - 1)) $((SST_PORT + n - 1))); done
[[ $(printf '%s\n' "${ports[@]}" | sort -u | wc -l) -eq ${#ports[@]} ]] || die "the SQL, gcomm, IST and SST port ranges overlap: ${ports[*]}"
for p in "${ports[@]}"; do [[ $p -ne 3306 ]] || die "port 3306 belongs to the main MariaDB; choose other GALERA_*_PORT values"; done

dir() { echo "$BASE/node$1"; }
cnf() { echo "$BASE/node$1/my.cnf"; }
sql_port() { echo $((SQL_PORT + $1 - 1)); }
cluster_address() {
  local n list=()
  for n in "${NODES[@]}"; do list+=("127.0.0.1:$((GCOMM_PORT + n - 1))"); done
  local IFS=,
  echo "gcomm://${list[*]}"
}

# The node's mariadbd process, found by its exact --defaults-file (not by a pid file, which a
# crash or a reboot leaves behind and a reused pid can fool).
node_pid() {
  local want="--defaults-file=$(cnf "$1")" p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    [[ $exe == "$MARIADBD"* ]] || continue
    if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | sed -n 2p | grep -qxF -- "$want"; then
      echo "${p#/proc/}"
      return 0
    fi
  done
  return 1
}

sql() { # node, statement: runs it over TCP as root@127.0.0.1 (what the tests use)
  "$CLIENT" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$(sql_port "$1")" -u root --connect-timeout=2 -N -B -e "$2" 2>/dev/null
}

# "size|state|status|ready" of one node, or nothing when it does not answer.
node_health() {
  sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')" |
    awk -F'\t' '{v[$1]=$2} END {if (NR) printf "%s|%s|%s|%s\n", v["wsrep_cluster_size"], v["wsrep_local_state_comment"], v["wsrep_cluster_status"], v["wsrep_ready"]}' || true
}

log_tail() { local f; f="$(dir "$1")/error.log"; [[ -f $f ]] && tail -n "${2:-25}" "$f" | sed "s/^/[node $1] /" >&2 || true; }

need_root() { [[ $(id -u) -eq 0 ]] || die "'$1' must run as root (mariadbd switches to user mysql)"; }

ensure_packages() {
  local missing=()
  [[ -f $PROVIDER ]] || missing+=(galera-4)
  command -v rsync >/dev/null || missing+=(rsync)
  [[ -x $MARIADBD ]] || missing+=(mariadb-server)
  command -v "$CLIENT" >/dev/null || missing+=(mariadb-client)
  ((${#missing[@]} == 0)) && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    die "could not install ${missing[*]}"
}

write_files() {
  install -d -o mysql -g mysql -m 0755 "$BASE"
  cat >"$BASE/init.sql" <<'SQL'
SET SESSION wsrep_on=OFF;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'localhost';
ALTER USER 'root'@'localhost' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
SQL
  chmod 0644 "$BASE/init.sql"
  local n d
  for n in "${NODES[@]}"; do
    d=$(dir "$n")
    install -d -o mysql -g mysql -m 0750 "$d" "$d/data"
    cat >"$(cnf "$n")" <<EOF
# Written by scripts/galera.sh; rewritten at every start.
[mysqld]
user = mysql
basedir = /usr
datadir = $d/data
socket = $d/mysqld.sock
pid-file = $d/mysqld.pid
log-error = $d/error.log
bind-address = 127.0.0.1
port = $(sql_port "$n")
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
init-file = $BASE/init.sql

binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2

wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = latchkey_galera
wsrep_cluster_address = $(cluster_address)
wsrep_node_name = node$n
wsrep_node_address = 127.0.0.1:$((GCOMM_PORT + n - 1))
wsrep_node_incoming_address = 127.0.0.1:$(sql_port "$n")
wsrep_provider_options = "base_host=127.0.0.1;base_port=$((GCOMM_PORT + n - 1));gmcast.listen_addr=tcp://127.0.0.1:$((GCOMM_PORT + n - 1));ist.recv_addr=127.0.0.1:$((IST_PORT + n - 1));gcache.size=64M;pc.recovery=FALSE"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:$((SST_PORT + n - 1))
wsrep_retry_autocommit = $RETRY_AUTOCOMMIT
wsrep_sync_wait = $SYNC_WAIT
EOF
    chmod 0644 "$(cnf "$n")"
  done
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Leftovers of a node that is not running (a crash, or a previous boot): the pid file and the
# socket lock, which may name a pid that now belongs to another process.
clean_runtime() {
  local d; d=$(dir "$1")
  rm -f "$d/mysqld.pid" "$d/mysqld.sock" "$d/mysqld.sock.lock"
}

launch() { # node, extra mariadbd arguments...
  local n=$1 p; shift
  for p in $(sql_port "$n") $((GCOMM_PORT + n - 1)) $((IST_PORT + n - 1)) $((SST_PORT + n - 1)); do
    port_busy "$p" && die "node $n cannot start: 127.0.0.1:$p is already in use by another program"
  done
  clean_runtime "$n"
  say "starting node $n on 127.0.0.1:$(sql_port "$n")${*:+ ($*)}"
  # Own session, so the node outlives this script and its caller's process group.
  setsid "$MARIADBD" --defaults-file="$(cnf "$n")" "$@" </dev/null >>"$(dir "$n")/console.log" 2>&1 9>&- &
}

wait_node1_primary() {
  local deadline=$((SECONDS + WAIT_SECONDS)) h
  while ((SECONDS < deadline)); do
    h=$(node_health 1)
    [[ $h == *"|Synced|Primary|ON" ]] && return 0
    if ! node_pid 1 >/dev/null; then
      log_tail 1
      return 1
    fi
    sleep 0.5
  done
  log_tail 1
  return 1
}

bootstrap_node1() {
  local d grastate
  d=$(dir 1)
  if [[ ! -d $d/data/mysql ]]; then
    say "initialising node 1's datadir (mariadb-install-db)"
    mariadb-install-db --no-defaults --user=mysql --basedir=/usr --datadir="$d/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 ||
      { tail -n 20 "$d/install.log" >&2; die "mariadb-install-db failed (log: $d/install.log)"; }
  fi
  grastate="$d/data/grastate.dat"
  if [[ -f $grastate ]] && grep -q '^safe_to_bootstrap: 0' "$grastate"; then
    say "node 1 was not the last to leave (a crash, a reboot, or an unordered stop): forcing it to bootstrap"
    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$grastate"
  fi
  # The others' saved view of the old cluster must not compete with the new one.
  rm -f "$BASE"/node*/data/gvwstate.dat
  launch 1 --wsrep-new-cluster
  wait_node1_primary
}

apply_dynamic() { # node: the settings that can change without a restart
  local cur
  cur=$(sql "$1" "SELECT CONCAT(@@global.wsrep_retry_autocommit, ' ', @@global.wsrep_sync_wait)") || return 0
  if [[ $cur != "$RETRY_AUTOCOMMIT $SYNC_WAIT" ]]; then
    say "node $1: wsrep_retry_autocommit/wsrep_sync_wait $cur -> $RETRY_AUTOCOMMIT $SYNC_WAIT"
    sql "$1" "SET GLOBAL wsrep_retry_autocommit=$RETRY_AUTOCOMMIT, GLOBAL wsrep_sync_wait=$SYNC_WAIT" >/dev/null
  fi
}

cmd_start() {
  need_root start
  ensure_packages
  mkdir -p "$BASE"
  exec 9>"$BASE/.lock"
  flock -w 600 9 || die "another galera.sh holds $BASE/.lock"
  local t0=$SECONDS n running=() stopped=() boot_id
  for n in "${NODES[@]}"; do
    if node_pid "$n" >/dev/null; then running+=("$n"); else stopped+=("$n"); fi
  done
  if ((${#stopped[@]} == 0)); then
    say "all three nodes are running already (base $BASE)"
    for n in "${NODES[@]}"; do apply_dynamic "$n"; done
    cmd_wait
    return
  fi
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [[ -f $BASE/boot_id && $(cat "$BASE/boot_id") != "$boot_id" ]]; then
    say "the cluster in $BASE is left over from a previous boot: cleaning up stale pid and socket files"
  fi
  write_files
  echo "$boot_id" >"$BASE/boot_id"

  if ((${#running[@]} == 0)); then
    if ! bootstrap_node1; then
      # A cluster that cannot recover is test data only: start it again from nothing, once.
      say "node 1 did not come up from the existing data: wiping $BASE/node*/data and starting cold"
      cmd_stop_nodes
      rm -rf "$BASE"/node*/data
      write_files
      bootstrap_node1 || die "node 1 did not become Primary within ${WAIT_SECONDS}s (log: $(dir 1)/error.log)"
    fi
    say "node 1 is Primary ($((SECONDS - t0))s); the others join it"
    stopped=(2 3)
  else
    say "node(s) ${running[*]} running; starting node(s) ${stopped[*]} to join them"
    for n in "${running[@]}"; do apply_dynamic "$n"; done
  fi
  for n in "${stopped[@]}"; do
    [[ $n -eq 1 && ${#running[@]} -eq 0 ]] && continue
    launch "$n"
  done
  cmd_wait
  say "started in $((SECONDS - t0))s"
}

cmd_wait() {
  local deadline=$((SECONDS + WAIT_SECONDS)) n ok h t0=$SECONDS last=""
  for (( ; ; )); do
    ok=1
    local line=""
    for n in "${NODES[@]}"; do
      h=$(node_health "$n")
      line+=" node$n=[${h:-down}]"
      [[ $h == "3|Synced|Primary|ON" ]] && continue
      ok=0
      if [[ -z $h ]] && ! node_pid "$n" >/dev/null; then
        log_tail "$n"
        die "node $n is not running (start it with: scripts/galera.sh start; log: $(dir "$n")/error.log)"
      fi
    done
    if ((ok)); then
      say "cluster ready: 3 nodes Synced on 127.0.0.1:$(sql_port 1)-$(sql_port 3) (waited $((SECONDS - t0))s)"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      for n in "${NODES[@]}"; do log_tail "$n" 10; done
      die "cluster not ready after ${WAIT_SECONDS}s:$line"
    fi
    [[ $line != "$last" ]] && say "waiting:$line"
    last=$line
    sleep 1
  done
}

cmd_status() {
  local n pid h healthy=1 vars
  say "base $BASE, cluster address $(cluster_address)"
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n" || true)
    h=$(node_health "$n")
    vars=$([[ -n $h ]] && sql "$n" "SELECT CONCAT('retry_autocommit=', @@wsrep_retry_autocommit, ' sync_wait=', @@wsrep_sync_wait)" || true)
    local size state status ready desc="not answering"
    if [[ -n $h ]]; then
      IFS="|" read -r size state status ready <<<"$h"
      desc="size=$size state=$state status=$status ready=$ready"
    fi
    printf '[galera] node %s  127.0.0.1:%s  pid %-7s  %s  %s\n' "$n" "$(sql_port "$n")" "${pid:--}" "$desc" "$vars"
    [[ $h == "3|Synced|Primary|ON" ]] || healthy=0
  done
  ((healthy)) && say "healthy" || { say "NOT healthy (logs: $BASE/node*/error.log)"; return 1; }
}

cmd_stop_nodes() {
  local n pid deadline
  for n in 3 2 1; do
    pid=$(node_pid "$n") || continue
    say "stopping node $n (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_SECONDS))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        say "node $n did not stop within ${STOP_SECONDS}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    clean_runtime "$n"
  done
}

cmd_stop() {
  need_root stop
  [[ -d $BASE ]] || { say "nothing to stop ($BASE does not exist)"; return 0; }
  exec 9>"$BASE/.lock"
  flock -w 600 9 || die "another galera.sh holds $BASE/.lock"
  local t0=$SECONDS
  cmd_stop_nodes
  say "stopped ($((SECONDS - t0))s)"
}

cmd_reset() {
  cmd_stop
  [[ $BASE == /*/* ]] || die "refusing to delete '$BASE'"
  rm -rf "$BASE"
  say "removed $BASE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  reset) cmd_reset ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
