#!/usr/bin/env bash
# scripts/apt-lists.sh — make sure the apt package lists exist: the Debian
# benchmark corpus (bench/corpus) is read from them with `apt-cache
# dumpavail`. A fresh machine may have none; as root this runs `apt-get
# update`, otherwise it says what to do.
set -euo pipefail
die() { printf 'apt-lists.sh: error: %s\n' "$*" >&2; exit 1; }

command -v apt-cache >/dev/null 2>&1 ||
	die "the Debian corpus needs apt-cache (a Debian or Ubuntu machine)"
if [ -n "$(apt-cache dumpavail 2>/dev/null | head -c 1)" ]; then
	exit 0
fi
[ "$(id -u)" -eq 0 ] ||
	die "no apt package lists for the Debian corpus: run \`sudo apt-get update\` once"
printf 'apt-lists.sh: no apt package lists: apt-get update (for the Debian corpus)\n' >&2
DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
	die "apt-get update failed; the Debian corpus needs the package lists"
[ -n "$(apt-cache dumpavail 2>/dev/null | head -c 1)" ] ||
	die "apt-get update ran but apt-cache dumpavail is still empty"
