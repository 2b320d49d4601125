#!/usr/bin/env bash
# scripts/run.sh — `make run`: the whole pipeline on embedded defaults.
# Kafka is kfake (127.0.0.1:9092) with its data on disk, MongoDB is the
# embedded FerretDB launcher (127.0.0.1:27017, SQLite), and the three
# services run as separate processes. Data lives under TERMFLOW_DATA_DIR
# (default ./data); a second run resumes with it. On first start the Go
# standard library documentation is indexed into "godoc" unless
# TERMFLOW_SAMPLE=off. Ctrl-C stops everything.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
DATA="${TERMFLOW_DATA_DIR:-./data}"
mkdir -p "$DATA/logs"
DATA="$(cd "$DATA" && pwd -P)"
export TERMFLOW_DATA_DIR="$DATA" KAFKA_BROKERS=127.0.0.1:9092 MONGO_URI=mongodb://127.0.0.1:27017
HTTP="${TERMFLOW_HTTP_ADDR:-127.0.0.1:8080}"
# Local development: API keys are off unless some are configured (README, Security).
if [ -z "${TERMFLOW_API_KEYS:-}${TERMFLOW_API_KEYS_FILE:-}" ]; then
  export TERMFLOW_AUTH="${TERMFLOW_AUTH:-off}"
else
  export TERMFLOW_AUTH="${TERMFLOW_AUTH:-on}"
fi
[ "$TERMFLOW_AUTH" = on ] && AUTH_NOTE="API keys required (send -H 'Authorization: Bearer <key>')" ||
  AUTH_NOTE="AUTHENTICATION IS OFF (local development; set TERMFLOW_API_KEYS to turn it on)"
# the sample load authenticates with TERMFLOW_API_KEY (a read+write key) when auth is on
CURL_AUTH=(); [ -n "${TERMFLOW_API_KEY:-}" ] && CURL_AUTH=(-H "Authorization: Bearer $TERMFLOW_API_KEY")
for b in termflow-kfake termflow-ferretdb termflow-ingest termflow-indexer termflow-persister godoc-corpus; do
  [ -x "bin/$b" ] || { echo "run: bin/$b is missing; run 'make run' (it builds first)" >&2; exit 1; }
done
pids=()
stop() {
  echo; echo "stopping…"
  # Services first (they finish their batch and commit), then Kafka and MongoDB.
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  echo "stopped; data kept in $DATA"
}
trap stop EXIT
trap 'exit 130' INT TERM
start() { local name=$1; shift; "$@" >"$DATA/logs/$name.log" 2>&1 & pids+=($!); }
wait_http() { for _ in $(seq 1 120); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done; echo "run: $2 did not become ready; see $DATA/logs/$2.log" >&2; tail -20 "$DATA/logs/$2.log" >&2; exit 1; }
wait_port() { for _ in $(seq 1 120); do (echo >"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return 0; sleep 0.5; done; echo "run: $2 did not start; see $DATA/logs/$2.log" >&2; exit 1; }

start kafka bin/termflow-kfake -listen 127.0.0.1:9092 -data-dir "$DATA/kafka"
start ferretdb bin/termflow-ferretdb -listen 127.0.0.1:27017 -data-dir "$DATA/ferretdb"
wait_port 127.0.0.1:9092 kafka
bin/termflow-ferretdb -ping 127.0.0.1:27017 -timeout 60s >/dev/null || { echo "run: ferretdb did not start; see $DATA/logs/ferretdb.log" >&2; exit 1; }
start persister bin/termflow-persister
start indexer bin/termflow-indexer
start ingest bin/termflow-ingest -http-addr "$HTTP"
wait_http "http://$HTTP/readyz" ingest
wait_http "http://127.0.0.1:8081/readyz" indexer
wait_http "http://127.0.0.1:8082/readyz" persister

if [ "${TERMFLOW_SAMPLE:-on}" != off ] && [ ! -e "$DATA/.sample-loaded" ]; then
  echo "indexing the Go standard library documentation into index 'godoc'…"
  bin/godoc-corpus -o "$DATA/godoc.ndjson"
  total=$(wc -l <"$DATA/godoc.ndjson"); sent=0; ops=()
  split -l 2000 "$DATA/godoc.ndjson" "$DATA/godoc.part."
  for f in "$DATA"/godoc.part.*; do
    resp=$(curl -fsS "${CURL_AUTH[@]}" -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$f" "http://$HTTP/bulk-indexing/godoc")
    ops+=("$(sed -E 's/.*"operationId":"([^"]+)".*/\1/' <<<"$resp")")
    sent=$((sent + $(wc -l <"$f"))); printf '\r  sent %d/%d documents' "$sent" "$total"
  done
  rm -f "$DATA"/godoc.part.*; echo
  for i in "${!ops[@]}"; do
    st=$(curl -fsS "${CURL_AUTH[@]}" "http://$HTTP/bulk-operations/${ops[i]}?wait=completed&timeout=300s")
    printf '\r  operation %d/%d: %s' "$((i+1))" "${#ops[@]}" "$(sed -E 's/.*"status":"([^"]+)".*/\1/' <<<"$st")"
  done
  echo; touch "$DATA/.sample-loaded"
fi
cat <<TXT

Termflow is running (logs in $DATA/logs). $AUTH_NOTE. Try:
  curl -s 'http://$HTTP/indexes/godoc'
  curl -s 'http://$HTTP/indexes/godoc/search?q=read+file&limit=3'
  curl -s -X POST http://$HTTP/bulk-indexing/books -d '[{"id":1,"title":"Limited edition"}]'
  echo 'books/2|{"v":1,"index":"books","id":"2","doc":{"title":"from kcat"}}' | kcat -P -b 127.0.0.1:9092 -t termflow.documents -K'|'
  kcat -C -b 127.0.0.1:9092 -t termflow.bulk-ops -e
Kafka 127.0.0.1:9092 · MongoDB mongodb://127.0.0.1:27017 · metrics :8080 :8081 :8082 /metrics
Ctrl-C stops everything; the next 'make run' resumes.
TXT
wait -n "${pids[@]}"; echo "a process exited; see $DATA/logs" >&2
