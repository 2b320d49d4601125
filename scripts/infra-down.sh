#!/usr/bin/env bash
# scripts/infra-down.sh — stop the local test infrastructure started by
# scripts/infra-up.sh (Kafka and FerretDB; their data is kept) and remove
# $INFRA_DIR/env. Safe to run when nothing is running.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra}"
case "$INFRA_DIR" in /*) ;; *) INFRA_DIR="$PWD/$INFRA_DIR" ;; esac
export INFRA_DIR

rm -f "$INFRA_DIR/env"

rc=0
"$SCRIPT_DIR/kafka.sh" down || rc=1
"$SCRIPT_DIR/ferretdb.sh" down || rc=1
exit "$rc"
