#!/usr/bin/env bash
# scripts/kafka.sh — single-node Apache Kafka (KRaft, broker+controller in one
# JVM) for Termflow's local development and CI tests. No Docker, no tarball:
# the broker jars come from Maven Central through `mvn`.
#
# Usage: scripts/kafka.sh up|down|status|restart|topics [TopicCommand args...]
#
#   up       fetch jars (first time only), write config, format storage (first
#            time only), start the broker in the background and wait until it
#            answers metadata requests. Prints "kafka ready on HOST:PORT".
#            Does nothing but report when it is already running.
#   down     stop it: SIGTERM, wait up to KAFKA_STOP_TIMEOUT s, then SIGKILL.
#   status   exit 0 when running and answering, 1 when running but not
#            answering, 3 when not running.
#   restart  down, then up.
#   topics   run org.apache.kafka.tools.TopicCommand against the broker
#            (auto.create.topics.enable=false, so tests create their topics), e.g.
#            scripts/kafka.sh topics --create --topic docs --partitions 3
#
# Environment:
#   INFRA_DIR              state root (default: <repo>/.infra); Kafka lives in $INFRA_DIR/kafka
#   KAFKA_PORT             client (PLAINTEXT) port on 127.0.0.1 (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1 (default 19093)
#   KAFKA_WIPE=1           `up` stops the broker if needed and deletes its data first
#   KAFKA_LIBS_DIR         where the broker jars are (default $INFRA_DIR/kafka/libs); a second
#                          broker (fault tests) shares the first one's jars through it
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   KAFKA_HEAP_OPTS        JVM heap flags (default "-Xms256m -Xmx512m")
#   KAFKA_SASL_PORT        also listen with SASL_PLAINTEXT (SCRAM-SHA-256 and -512) on this
#                          port of 127.0.0.1 (default: no SASL listener); the PLAINTEXT port stays
#   KAFKA_SCRAM_USERS      "user:password ..." SCRAM credentials (both mechanisms) written at
#                          format time (first 'up' of a data directory); needs KAFKA_SASL_PORT
#   KAFKA_START_TIMEOUT    seconds `up` waits for the broker (default 90)
#   KAFKA_STOP_TIMEOUT     seconds `down` waits after SIGTERM (default 30)
#
# Files under $INFRA_DIR/kafka: pom.xml + libs/ (jars), server.properties,
# log4j2.properties, data/ (KRaft metadata + topic logs), server.log
# (broker stdout/stderr; the previous run's is kept as server.log.1), pid.
#
# When java, mvn or kcat are missing it installs them with apt-get if run as
# root on Debian/Ubuntu, and otherwise fails saying what is missing.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"

INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra}"
case "$INFRA_DIR" in /*) ;; *) INFRA_DIR="$PWD/$INFRA_DIR" ;; esac

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_SCALA_VERSION=2.13
# Kafka 4.1 logs through slf4j 1.7 (+ log4j2 directly); this is the log4j2
# release it is built against.
KAFKA_LOG4J_VERSION="${KAFKA_LOG4J_VERSION:-2.24.3}"
MVN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-}"
KAFKA_SCRAM_USERS="${KAFKA_SCRAM_USERS:-}"

KAFKA_DIR="$INFRA_DIR/kafka"
LIBS_DIR="${KAFKA_LIBS_DIR:-$KAFKA_DIR/libs}"
LIBS_MARKER="$LIBS_DIR/.complete-kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}"
DATA_DIR="$KAFKA_DIR/data"
CONFIG="$KAFKA_DIR/server.properties"
LOG4J_CONFIG="$KAFKA_DIR/log4j2.properties"
TOOLS_LOG4J_CONFIG="$KAFKA_DIR/tools-log4j2.properties"
LOG_FILE="$KAFKA_DIR/server.log"
PID_FILE="$KAFKA_DIR/pid"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools

APT_UPDATED=0
can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if [ "$APT_UPDATED" -eq 0 ]; then
		apt-get update -qq >&2 || return 1
		APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	apt-get install -y -qq --no-install-recommends "$@" >&2
}

java_package() {
	# Debian 12 has openjdk-17; newer releases only have later JDKs.
	if [ -n "$(apt-cache policy openjdk-17-jre-headless 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]; then
		echo openjdk-17-jre-headless
	else
		echo default-jre-headless
	fi
}

# ensure_tools NAME... — NAME in java mvn kcat
ensure_tools() {
	local t missing=()
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		if ! can_apt; then
			die "missing required tool(s): ${missing[*]} (java = a JRE >= 17, mvn = Apache Maven, kcat = the Kafka CLI client). Install them (Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless maven kcat) or re-run this script as root so it can install them."
		fi
		local pkgs=()
		for t in "${missing[@]}"; do
			case "$t" in
			java)
				# java_package asks apt-cache, which needs fresh package lists
				if [ "$APT_UPDATED" -eq 0 ] && apt-get update -qq >&2; then APT_UPDATED=1; fi
				pkgs+=("$(java_package)")
				;;
			mvn) pkgs+=(maven) ;;
			kcat) pkgs+=(kcat) ;;
			*) pkgs+=("$t") ;;
			esac
		done
		apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed (needed for: ${missing[*]})"
		for t in "${missing[@]}"; do
			command -v "$t" >/dev/null 2>&1 || die "$t is still missing after installing ${pkgs[*]}"
		done
	fi
	if [[ " $* " == *" java "* ]]; then
		local v major
		v="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
		major="${v%%.*}"
		[ "$major" = 1 ] && major="$(echo "$v" | cut -d. -f2)"
		[[ "$major" =~ ^[0-9]+$ ]] || die "cannot parse the java version from: $(java -version 2>&1 | head -1)"
		[ "$major" -ge 17 ] || die "Kafka $KAFKA_VERSION needs Java >= 17, found $v at $(command -v java)"
	fi
}

# ---------------------------------------------------------------- jars

write_pom() {
	cat >"$KAFKA_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka.sh: resolves the Kafka broker's runtime classpath. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.termflow.infra</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- the broker: kafka.Kafka, kafka.tools.StorageTool -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${KAFKA_SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- CLI tools: org.apache.kafka.tools.TopicCommand (Connect's runtime is not needed) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>com.fasterxml.jackson.jakarta.rs</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- logging backend: slf4j 1.7 -> log4j2 -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${KAFKA_LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${KAFKA_LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

fetch_libs() {
	if [ -f "$LIBS_MARKER" ]; then
		return 0
	fi
	ensure_tools mvn
	log "fetching kafka_${KAFKA_SCALA_VERSION}:${KAFKA_VERSION} and its runtime dependencies with mvn (one-time) ..."
	mkdir -p "$KAFKA_DIR"
	write_pom
	local tmp="$LIBS_DIR.tmp.$$" mvn_log="$KAFKA_DIR/mvn.log"
	rm -rf "$tmp"
	if ! mvn -B -q -f "$KAFKA_DIR/pom.xml" \
		"$MVN_DEPENDENCY_PLUGIN:copy-dependencies" \
		-DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
		rm -rf "$tmp"
		tail -n 40 "$mvn_log" >&2 || true
		die "mvn could not fetch the Kafka jars (full output: $mvn_log)"
	fi
	if ! ls "$tmp"/kafka_"${KAFKA_SCALA_VERSION}"-"${KAFKA_VERSION}".jar >/dev/null 2>&1; then
		rm -rf "$tmp"
		die "mvn finished but kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}.jar is not in the copied jars (see $mvn_log)"
	fi
	rm -rf "$LIBS_DIR"
	mv "$tmp" "$LIBS_DIR"
	touch "$LIBS_MARKER"
	log "$(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $LIBS_DIR"
}

# ---------------------------------------------------------------- config

write_config() {
	mkdir -p "$KAFKA_DIR" "$DATA_DIR"
	local listeners="PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}" advertised="PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}"
	local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" sasl=""
	if [ -n "$KAFKA_SASL_PORT" ]; then
		listeners+=",SASL_PLAINTEXT://${KAFKA_HOST}:${KAFKA_SASL_PORT}"
		advertised+=",SASL_PLAINTEXT://${KAFKA_HOST}:${KAFKA_SASL_PORT}"
		protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
		sasl="
# SCRAM on the SASL_PLAINTEXT listener; credentials are in the KRaft metadata
# (KAFKA_SCRAM_USERS at format time). Brokers talk to each other in PLAINTEXT.
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
	fi
	cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh on every 'up'; edits are overwritten.
# Single-node KRaft: this process is both broker and (the only) controller.
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
listeners=${listeners},CONTROLLER://${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
advertised.listeners=${advertised}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=${protocols}
${sasl}

log.dirs=${DATA_DIR}

# Topics: tests create what they use.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Internal topics on a single node.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1

# Fast consumer-group joins in tests.
group.initial.rebalance.delay.ms=0

# Small machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF

	cat >"$LOG4J_CONFIG" <<'EOF'
# Generated by scripts/kafka.sh. The broker's stdout/stderr go to server.log.
status = warn
name = termflow-kafka
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# the full config dumps ("KafkaConfig values: ...") on every start
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF

	cat >"$TOOLS_LOG4J_CONFIG" <<'EOF'
# Generated by scripts/kafka.sh, for CLI tools: warnings to stderr only.
status = warn
name = termflow-kafka-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# run_tool CLASS ARGS... — a Kafka CLI class on the broker classpath
run_tool() {
	java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG" \
		-cp "$LIBS_DIR/*" "$@"
}

format_storage() {
	if [ -f "$DATA_DIR/meta.properties" ]; then
		return 0
	fi
	local cluster_id out
	# Same shape as `StorageTool random-uuid` (base64url of 16 random bytes,
	# not starting with "-"), without paying for another JVM start.
	cluster_id="-"
	while [[ "$cluster_id" == -* ]]; do
		cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
	done
	local -a scram=()
	if [ -n "$KAFKA_SCRAM_USERS" ]; then
		[ -n "$KAFKA_SASL_PORT" ] || die "KAFKA_SCRAM_USERS needs KAFKA_SASL_PORT (the SASL_PLAINTEXT listener)"
		local u
		for u in $KAFKA_SCRAM_USERS; do
			[[ "$u" == ?*:?* ]] || die "KAFKA_SCRAM_USERS entry '${u%%:*}:...': want user:password"
			scram+=(--add-scram "SCRAM-SHA-256=[name=${u%%:*},password=${u#*:}]" --add-scram "SCRAM-SHA-512=[name=${u%%:*},password=${u#*:}]")
		done
	fi
	log "formatting $DATA_DIR (cluster id $cluster_id${KAFKA_SCRAM_USERS:+, with SCRAM credentials})"
	if ! out="$(run_tool kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$CONFIG" "${scram[@]}" 2>&1)"; then
		printf '%s\n' "$out" >&2
		die "kafka.tools.StorageTool format failed"
	fi
}

# ---------------------------------------------------------------- process

# running_pid: print the broker's pid and succeed if the pid file names a live
# kafka.Kafka process started from this INFRA_DIR.
running_pid() {
	local pid
	[ -f "$PID_FILE" ] || return 1
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $CONFIG" || return 1
	if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
		return 1
	fi
	echo "$pid"
}

answers() {
	# kcat waits the whole -m timeout when nothing listens: check the port first.
	port_in_use "$KAFKA_PORT" || return 1
	kcat -b "$BOOTSTRAP" -L -m 3 -X socket.connection.setup.timeout.ms=3000 2>/dev/null | grep -q "broker 1 at"
}

port_in_use() {
	(exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null
}

fail_start() {
	printf 'kafka.sh: ---- last 40 lines of %s ----\n' "$LOG_FILE" >&2
	tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
	printf 'kafka.sh: ----\n' >&2
	die "$*"
}

wait_ready() {
	local pid="$1" start="$2"
	while :; do
		if answers; then
			log "broker answering after $((SECONDS - start))s (pid $pid, log $LOG_FILE)"
			echo "kafka ready on $BOOTSTRAP"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PID_FILE"
			fail_start "the broker process (pid $pid) exited during startup"
		fi
		if [ $((SECONDS - start)) -ge "$KAFKA_START_TIMEOUT" ]; then
			fail_start "the broker (pid $pid) did not answer on $BOOTSTRAP within ${KAFKA_START_TIMEOUT}s (still running; 'scripts/kafka.sh down' stops it)"
		fi
		sleep 0.5
	done
}

cmd_up() {
	local start=$SECONDS pid
	if [ -f "$LIBS_MARKER" ]; then
		ensure_tools java kcat
	else
		ensure_tools java kcat mvn
	fi

	if [ "${KAFKA_WIPE:-0}" = 1 ]; then
		if running_pid >/dev/null; then
			cmd_down
		fi
		log "KAFKA_WIPE=1: deleting $DATA_DIR"
		rm -rf "$DATA_DIR"
	fi

	if pid="$(running_pid)"; then
		log "kafka already running (pid $pid)"
		wait_ready "$pid" "$start"
		return 0
	fi
	rm -f "$PID_FILE"

	local p
	for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" $KAFKA_SASL_PORT; do
		if port_in_use "$p"; then
			die "port $KAFKA_HOST:$p is already in use by a process this script did not start (pid file: $PID_FILE). Stop it, or set KAFKA_PORT / KAFKA_CONTROLLER_PORT."
		fi
	done

	fetch_libs
	write_config
	format_storage

	if [ -f "$LOG_FILE" ]; then
		mv -f "$LOG_FILE" "$LOG_FILE.1"
	fi
	local -a heap cmd
	read -r -a heap <<<"$KAFKA_HEAP_OPTS"
	cmd=(java "${heap[@]}"
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent
		-Djava.awt.headless=true
		-Dlog4j2.configurationFile="$LOG4J_CONFIG"
		-Dkafka.logs.dir="$KAFKA_DIR"
		-cp "$LIBS_DIR/*"
		kafka.Kafka "$CONFIG")
	log "starting kafka $KAFKA_VERSION on $BOOTSTRAP (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT, data $DATA_DIR)"
	printf '# %s: %s\n' "$(date -u +%FT%TZ)" "${cmd[*]}" >"$LOG_FILE"
	# Detach into its own session so it outlives this script and the caller's
	# process group; the wrapper shell writes its own pid, then execs java.
	# shellcheck disable=SC2016 # $$, $0 and $@ belong to the wrapper shell
	if command -v setsid >/dev/null 2>&1; then
		(cd "$KAFKA_DIR" && setsid -f bash -c 'echo $$ >"$0" && exec "$@"' "$PID_FILE" "${cmd[@]}" </dev/null >>"$LOG_FILE" 2>&1)
	else
		(cd "$KAFKA_DIR" && nohup bash -c 'echo $$ >"$0" && exec "$@"' "$PID_FILE" "${cmd[@]}" </dev/null >>"$LOG_FILE" 2>&1 &)
	fi
	for _ in $(seq 50); do
		[ -s "$PID_FILE" ] && break
		sleep 0.1
	done
	pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
	[ -n "$pid" ] || fail_start "the broker did not start (no pid written to $PID_FILE)"
	wait_ready "$pid" "$start"
}

cmd_down() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$PID_FILE"
		echo "kafka not running"
		return 0
	fi
	log "stopping kafka (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "kafka (pid $pid) still running ${KAFKA_STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$PID_FILE"
	echo "kafka stopped"
}

cmd_status() {
	local pid
	if ! pid="$(running_pid)"; then
		echo "kafka not running"
		return 3
	fi
	if command -v kcat >/dev/null 2>&1 && answers; then
		echo "kafka running (pid $pid) on $BOOTSTRAP"
		return 0
	fi
	if ! command -v kcat >/dev/null 2>&1 && port_in_use "$KAFKA_PORT"; then
		echo "kafka running (pid $pid) on $BOOTSTRAP (port open; kcat missing, metadata not checked)"
		return 0
	fi
	echo "kafka running (pid $pid) but not answering on $BOOTSTRAP"
	return 1
}

cmd_topics() {
	[ -f "$LIBS_MARKER" ] || die "no Kafka jars in $LIBS_DIR yet; run 'scripts/kafka.sh up' first"
	ensure_tools java
	[ -f "$TOOLS_LOG4J_CONFIG" ] || write_config
	run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
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
topics) shift; cmd_topics "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
