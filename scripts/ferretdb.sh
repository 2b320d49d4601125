#!/usr/bin/env bash
# scripts/ferretdb.sh — FerretDB (MongoDB wire protocol on SQLite) for Termflow's
# local development and CI tests, run by the launcher in tools/ferretdb.
#
# Usage: scripts/ferretdb.sh up|down|status|restart|build|overlay
#
#   build    build tools/ferretdb (its own module, GOWORK=off) to
#            bin/termflow-ferretdb; skipped when the binary is newer than the
#            module's .go/go.mod/go.sum files. FerretDB is patched with
#            go build -overlay (tools/ferretdb/_patch).
#   overlay  write the -overlay file of those patches and print its path
#            (for go test of the module).
#   up       build, start on 127.0.0.1:$FERRETDB_PORT in the background and wait
#            until it answers a MongoDB ping. Prints "ferretdb ready on HOST:PORT".
#            Does nothing but report when it is already running.
#   down     stop it: SIGTERM, wait up to FERRETDB_STOP_TIMEOUT s, then SIGKILL.
#   status   exit 0 when running and answering, 1 when running but not
#            answering, 3 when not running.
#   restart  down, then up.
#
# Environment:
#   INFRA_DIR               state root (default: <repo>/.infra); FerretDB lives in $INFRA_DIR/ferretdb
#   FERRETDB_PORT           port on 127.0.0.1 (default 27018)
#   FERRETDB_LOG_LEVEL      debug|info|warn|error (default warn)
#   FERRETDB_WIPE=1         `up` stops it if needed and deletes its data first
#   FERRETDB_START_TIMEOUT  seconds `up` waits for a ping answer (default 120: a cold machine that is still building
#                           or starting Kafka has been seen to need more than 30)
#   FERRETDB_STOP_TIMEOUT   seconds `down` waits after SIGTERM (default 15)
#
# Files under $INFRA_DIR/ferretdb: data/ (SQLite files, one per database),
# ferretdb.log (stdout/stderr; the previous run's is kept as ferretdb.log.1), pid.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"

INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra}"
case "$INFRA_DIR" in /*) ;; *) INFRA_DIR="$PWD/$INFRA_DIR" ;; esac

FERRETDB_HOST=127.0.0.1
FERRETDB_PORT="${FERRETDB_PORT:-27018}"
FERRETDB_LOG_LEVEL="${FERRETDB_LOG_LEVEL:-warn}"
FERRETDB_START_TIMEOUT="${FERRETDB_START_TIMEOUT:-120}"
FERRETDB_STOP_TIMEOUT="${FERRETDB_STOP_TIMEOUT:-15}"
ADDR="$FERRETDB_HOST:$FERRETDB_PORT"

SRC_DIR="$REPO_ROOT/tools/ferretdb"
BIN="$REPO_ROOT/bin/termflow-ferretdb"
FDB_DIR="$INFRA_DIR/ferretdb"
DATA_DIR="$FDB_DIR/data"
LOG_FILE="$FDB_DIR/ferretdb.log"
PID_FILE="$FDB_DIR/pid"

log() { printf 'ferretdb.sh: %s\n' "$*" >&2; }
die() { printf 'ferretdb.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- build

ensure_go() {
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null 2>&1 ||
		die "missing required tool: go (the Go toolchain named in $SRC_DIR/go.mod; https://go.dev/dl). Add it to PATH."
}

needs_build() {
	[ -x "$BIN" ] || return 0
	[ -n "$(find "$SRC_DIR" -path "$SRC_DIR/vendor" -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$BIN" -print -quit)" ]
}

cmd_build() {
	if ! needs_build; then
		log "$BIN is up to date"
		return 0
	fi
	ensure_go
	mkdir -p "$(dirname "$BIN")"
	log "building $BIN (GOWORK=off; the first build compiles modernc.org/sqlite and takes a minute or two) ..."
	local overlay
	overlay="$(cmd_overlay)" || exit 1
	# Build next to the target and rename: never write into a running binary.
	local tmp="$BIN.tmp.$$"
	if ! (cd "$SRC_DIR" && GOWORK=off go build -mod=vendor -buildvcs=false -overlay "$overlay" -o "$tmp" .); then
		rm -f "$tmp"
		die "go build of $SRC_DIR failed"
	fi
	mv -f "$tmp" "$BIN"
}

# cmd_overlay writes the go build -overlay file that applies the launcher's
# patches of FerretDB and prints its path. tools/ferretdb/_patch mirrors
# FerretDB's module tree: each file there replaces FerretDB's file of the
# same path, or, named termflow_*.go, is added to that package (see each
# file's "Termflow patch" comments).
cmd_overlay() {
	ensure_go
	local out="$SRC_DIR/_patch/overlay.json"
	local mod="$SRC_DIR/vendor/github.com/FerretDB/FerretDB"
	# The go command does not overlay files of the module cache: the patched
	# files replace those of a vendor directory (not committed).
	(cd "$SRC_DIR" && GOWORK=off go mod vendor) ||
		die "go mod vendor in $SRC_DIR failed (is the module proxy reachable?)"
	[ -d "$mod/internal" ] || die "FerretDB source not found in $SRC_DIR/vendor ($mod)"
	local entries="" rel target
	while IFS= read -r rel; do
		target="$mod/$rel"
		case "$(basename "$rel")" in
		termflow_*) [ -d "$(dirname "$target")" ] || die "patch $rel: FerretDB has no package $(dirname "$rel")" ;;
		*) [ -f "$target" ] || die "patch $rel: FerretDB has no file $rel to replace (did the FerretDB version change?)" ;;
		esac
		entries="$entries${entries:+, }\"$target\": \"$SRC_DIR/_patch/$rel\""
	done < <(cd "$SRC_DIR/_patch" && find . -name '*.go' | sed 's|^\./||' | sort)
	[ -n "$entries" ] || die "no patches found under $SRC_DIR/_patch"
	printf '{"Replace": {%s}}\n' "$entries" >"$out" || die "cannot write $out"
	echo "$out"
}

# ---------------------------------------------------------------- process

# running_pid: print the pid and succeed if the pid file names a live
# termflow-ferretdb serving this INFRA_DIR's data.
running_pid() {
	local pid
	[ -f "$PID_FILE" ] || return 1
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "termflow-ferretdb .*-data-dir $DATA_DIR" || return 1
	if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
		return 1
	fi
	echo "$pid"
}

port_in_use() {
	(exec 3<>"/dev/tcp/$FERRETDB_HOST/$1") 2>/dev/null
}

answers() {
	port_in_use "$FERRETDB_PORT" && "$BIN" -ping "$ADDR" -timeout 2s >/dev/null 2>&1
}

fail_start() {
	printf 'ferretdb.sh: ---- last 40 lines of %s ----\n' "$LOG_FILE" >&2
	tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
	printf 'ferretdb.sh: ----\n' >&2
	die "$*"
}

wait_ready() {
	local pid="$1" start="$2"
	while :; do
		if answers; then
			log "answering after $((SECONDS - start))s (pid $pid, log $LOG_FILE)"
			echo "ferretdb ready on $ADDR"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PID_FILE"
			fail_start "the ferretdb process (pid $pid) exited during startup"
		fi
		if [ $((SECONDS - start)) -ge "$FERRETDB_START_TIMEOUT" ]; then
			fail_start "ferretdb (pid $pid) did not answer a ping on $ADDR within ${FERRETDB_START_TIMEOUT}s (still running; 'scripts/ferretdb.sh down' stops it)"
		fi
		sleep 0.2
	done
}

cmd_up() {
	local start=$SECONDS pid

	if [ "${FERRETDB_WIPE:-0}" = 1 ]; then
		if running_pid >/dev/null; then
			cmd_down
		fi
		log "FERRETDB_WIPE=1: deleting $DATA_DIR"
		rm -rf "$DATA_DIR"
	fi

	if pid="$(running_pid)"; then
		log "ferretdb already running (pid $pid)"
		[ -x "$BIN" ] || cmd_build
		wait_ready "$pid" "$start"
		return 0
	fi
	rm -f "$PID_FILE"

	if port_in_use "$FERRETDB_PORT"; then
		die "port $ADDR is already in use by a process this script did not start (pid file: $PID_FILE). Stop it, or set FERRETDB_PORT."
	fi

	cmd_build

	mkdir -p "$DATA_DIR"
	if [ -f "$LOG_FILE" ]; then
		mv -f "$LOG_FILE" "$LOG_FILE.1"
	fi
	local -a cmd=("$BIN" -listen "$ADDR" -data-dir "$DATA_DIR" -log-level "$FERRETDB_LOG_LEVEL")
	log "starting ferretdb on $ADDR (data $DATA_DIR)"
	printf '# %s: %s\n' "$(date -u +%FT%TZ)" "${cmd[*]}" >"$LOG_FILE"
	# Detach into its own session so it outlives this script and the caller's
	# process group; the wrapper shell writes its own pid, then execs the server.
	# shellcheck disable=SC2016 # $$, $0 and $@ belong to the wrapper shell
	if command -v setsid >/dev/null 2>&1; then
		(cd "$FDB_DIR" && setsid -f bash -c 'echo $$ >"$0" && exec "$@"' "$PID_FILE" "${cmd[@]}" </dev/null >>"$LOG_FILE" 2>&1)
	else
		(cd "$FDB_DIR" && nohup bash -c 'echo $$ >"$0" && exec "$@"' "$PID_FILE" "${cmd[@]}" </dev/null >>"$LOG_FILE" 2>&1 &)
	fi
	for _ in $(seq 50); do
		[ -s "$PID_FILE" ] && break
		sleep 0.1
	done
	pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
	[ -n "$pid" ] || fail_start "ferretdb did not start (no pid written to $PID_FILE)"
	wait_ready "$pid" "$start"
}

cmd_down() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$PID_FILE"
		echo "ferretdb not running"
		return 0
	fi
	log "stopping ferretdb (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + FERRETDB_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "ferretdb (pid $pid) still running ${FERRETDB_STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$PID_FILE"
	echo "ferretdb stopped"
}

cmd_status() {
	local pid
	if ! pid="$(running_pid)"; then
		echo "ferretdb not running"
		return 3
	fi
	if [ -x "$BIN" ] && answers; then
		echo "ferretdb running (pid $pid) on $ADDR"
		return 0
	fi
	echo "ferretdb running (pid $pid) but not answering on $ADDR"
	return 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
restart) cmd_down && cmd_up ;;
build) cmd_build ;;
overlay) cmd_overlay ;;
*) usage ;;
esac
