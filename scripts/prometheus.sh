#!/usr/bin/env bash
# scripts/prometheus.sh — the Prometheus server and promtool the operations
# tests use (the Debian package `prometheus` has both).
#
#   scripts/prometheus.sh ensure   install the package when a tool is missing
#                                  (apt-get, as root; otherwise say what to do)
#   scripts/prometheus.sh check    ensure, then promtool: the compose config,
#                                  the alert rules and their unit tests
#
# make integration (and so make test) runs `ensure` before the tests: the
# dashboards test (tools/e2e) starts a real Prometheus and lints /metrics with
# promtool, and the rules test (tools/compose) runs promtool; both fail with a
# clear message if the tools are missing.
set -euo pipefail
log() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() { printf 'prometheus.sh: error: %s\n' "$*" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ensure() {
	local missing=() t
	for t in prometheus promtool; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing ${missing[*]}: install the Debian package (sudo apt-get install -y prometheus) or re-run this script as root so it can"
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get install -y prometheus (for: ${missing[*]})"
	apt-get update -qq >&2 || die "apt-get update failed"
	# --no-install-recommends: the exporters and the web UI bundle are not needed.
	apt-get install -y -qq --no-install-recommends prometheus >&2 || die "apt-get install prometheus failed"
	# The package starts a system service scraping localhost:9090; the tests
	# run their own servers, so stop it where systemd runs (containers have none).
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl stop prometheus >&2 || true
	fi
	for t in "${missing[@]}"; do
		command -v "$t" >/dev/null 2>&1 || die "$t is still missing after installing prometheus"
	done
}

check() {
	ensure
	promtool check config "$root/deploy/prometheus/prometheus.yml"
	promtool check rules "$root"/deploy/prometheus/rules/*.yml
	promtool test rules "$root"/deploy/prometheus/tests/*.yml
}

case "${1:-}" in
ensure) ensure ;;
check) check ;;
*) die "usage: $0 ensure|check" ;;
esac
