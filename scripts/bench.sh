#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: run the benchmark harness
# (bench/cmd/termflow-bench) against the broker and MongoDB server named by
# KAFKA_BROKERS and MONGO_URI (make bench starts them with infra-up.sh).
# Arguments go to the harness (see `go run ./cmd/termflow-bench -h` in bench/).
#
# The Debian corpus is read from the apt package lists (scripts/apt-lists.sh
# fetches them on a fresh machine).
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() { printf 'bench.sh: error: %s\n' "$*" >&2; exit 1; }

[ -n "${KAFKA_BROKERS:-}" ] && [ -n "${MONGO_URI:-}" ] ||
	die "KAFKA_BROKERS and MONGO_URI must be set (run \`make bench\`, which starts the broker and FerretDB)"

if [[ " $* " != *" -real "* ]] || [[ " $* " == *debian* ]]; then
	"$SCRIPT_DIR/apt-lists.sh" || die "the Debian corpus is not available; run with BENCH_ARGS='-real godoc' to leave it out"
fi

# The broker's version, as scripts/kafka.sh fetched it.
export KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION="\${KAFKA_VERSION:-\([^}]*\)}"$/\1/p' "$SCRIPT_DIR/kafka.sh")}"

cd "$REPO_ROOT/bench"
exec go run ./cmd/termflow-bench -repo "$REPO_ROOT" -command "make bench${*:+ BENCH_ARGS='$*'}" "$@"
