#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: run the benchmark harness
# (bench/cmd/termflow-bench) against the broker and MongoDB server named by
# KAFKA_BROKERS and MONGO_URI (make bench starts them with infra-up.sh).
# Arguments go to the harness (see `go run ./cmd/termflow-bench -h` in bench/).
#
# The Debian corpus is read from the apt package lists. A fresh machine may
# have none; as root this script runs `apt-get update` to fetch them,
# otherwise it says what to do.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() { printf 'bench.sh: error: %s\n' "$*" >&2; exit 1; }

[ -n "${KAFKA_BROKERS:-}" ] && [ -n "${MONGO_URI:-}" ] ||
	die "KAFKA_BROKERS and MONGO_URI must be set (run \`make bench\`, which starts the broker and FerretDB)"

if [[ " $* " != *" -real "* ]] || [[ " $* " == *debian* ]]; then
	if ! command -v apt-cache >/dev/null 2>&1; then
		die "the Debian corpus needs apt-cache (a Debian or Ubuntu machine); run with BENCH_ARGS='-real godoc' elsewhere"
	fi
	if [ -z "$(apt-cache dumpavail 2>/dev/null | head -c 1)" ]; then
		if [ "$(id -u)" -eq 0 ]; then
			log "no apt package lists: apt-get update (for the Debian corpus)"
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed; the Debian corpus needs the package lists"
		else
			die "no apt package lists for the Debian corpus: run \`sudo apt-get update\` once, or BENCH_ARGS='-real godoc'"
		fi
	fi
fi

# The broker's version, as scripts/kafka.sh fetched it.
export KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION="\${KAFKA_VERSION:-\([^}]*\)}"$/\1/p' "$SCRIPT_DIR/kafka.sh")}"

cd "$REPO_ROOT/bench"
exec go run ./cmd/termflow-bench -repo "$REPO_ROOT" -command "make bench${*:+ BENCH_ARGS='$*'}" "$@"
