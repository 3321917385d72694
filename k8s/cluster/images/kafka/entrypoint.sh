#!/bin/bash
# Apache Kafka as one KRaft node, broker and controller, in the foreground of this
# container: formats the storage on first start, writes server.properties, starts the
# broker, then creates the topics of KAFKA_TOPICS (--if-not-exists, so every start may)
# and marks the container ready. SIGTERM and SIGINT go on to Kafka (a controlled shutdown);
# the container exits when Kafka does.
#   KAFKA_ADVERTISED_HOST   host the clients are given, kafka.data.svc.cluster.local by default
#   KAFKA_LISTENER_PORT     client listener, every address, 9092 by default (not
#                           KAFKA_PORT: Kubernetes' service links set that to tcp://...)
#   KAFKA_CONTROLLER_PORT   KRaft controller listener, loopback only, 9093 by default
#   KAFKA_LOCAL_PORT        listener for this container's own tools and the inter-broker
#                           traffic, loopback only, 9094 by default (it needs no DNS, so
#                           topics are created before the Service has any endpoint)
#   KAFKA_TOPICS            NAME:PARTITIONS[:CONFIG...],... where each CONFIG is KEY=VALUE
#                           or a bare cleanup policy, e.g. game-score:6,game-score.dlq:1,
#                           leaderboard:1:compact:min.cleanable.dirty.ratio=0.1
#   KAFKA_TOPICS_TIMEOUT    seconds to wait for the broker to create them, 180 by default
#   KAFKA_CLUSTER_ID        cluster id for the first format (random by default)
#   KAFKA_HEAP_OPTS         JVM heap options, "-Xms512m -Xmx512m" by default
#   KAFKA_EXTRA_PROPERTIES  more server.properties lines (newline-separated)
#   KAFKA_HOME_DIR          /var/lib/kafka: server.properties there, the data in data/
#   KAFKA_READY_FILE        written once the topics exist: /tmp/kafka-ready
set -euo pipefail

log() { echo "kafka-entrypoint: $*" >&2; }

LIBS=/opt/kafka/libs
port="${KAFKA_LISTENER_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
local_port="${KAFKA_LOCAL_PORT:-9094}"
for number in "$port" "$controller_port" "$local_port"; do
    [[ "$number" =~ ^[0-9]+$ ]] || { log "not a port number: $number"; exit 1; }
done
advertised="${KAFKA_ADVERTISED_HOST:-kafka.data.svc.cluster.local}"
home="${KAFKA_HOME_DIR:-/var/lib/kafka}"
data="$home/data"
config="$home/server.properties"
ready="${KAFKA_READY_FILE:-/tmp/kafka-ready}"
read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}"

rm -f "$ready"
mkdir -p "$data"
# An explicit jar list, so ps shows exactly which Kafka runs.
jars=("$LIBS"/*.jar)
classpath="$(IFS=:; echo "${jars[*]}")"
# Kafka's own defaults (kafka-run-class.sh), without JMX.
jvm=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:-UsePerfData -Djava.awt.headless=true
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp "$classpath")
# The short-lived tools: a small heap, a quick start.
tool=(java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
    -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties -cp "$classpath")

cat >"$config" <<PROPERTIES
# Written by kafka-entrypoint on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://0.0.0.0:$port,LOCAL://127.0.0.1:$local_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://$advertised:$port,LOCAL://127.0.0.1:$local_port
inter.broker.listener.name=LOCAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,LOCAL:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
${KAFKA_EXTRA_PROPERTIES:-}
PROPERTIES

if [[ ! -f "$data/meta.properties" ]]; then
    # Kafka's id format: a UUID as unpadded URL-safe base64, never starting with '-'.
    cluster_id="${KAFKA_CLUSTER_ID:-$(python3 -c '
import base64, uuid
while (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()).startswith("-"):
    pass
print(i)')}"
    log "formatting $data for cluster $cluster_id"
    "${tool[@]}" kafka.tools.StorageTool format --cluster-id "$cluster_id" \
        --config "$config" --ignore-formatted
fi

create_topics() {
    local deadline=$((SECONDS + ${KAFKA_TOPICS_TIMEOUT:-180})) spec name partitions setting
    local topics=() fields
    [[ -z "${KAFKA_TOPICS:-}" ]] || IFS=, read -r -a topics <<<"$KAFKA_TOPICS"
    until (exec 3<>"/dev/tcp/127.0.0.1/$local_port") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
    for spec in "${topics[@]}"; do
        IFS=: read -r -a fields <<<"$spec"
        name="${fields[0]}" partitions="${fields[1]:-1}"
        local command=(--bootstrap-server "127.0.0.1:$local_port" --create --if-not-exists
            --topic "$name" --partitions "$partitions" --replication-factor 1)
        for setting in "${fields[@]:2}"; do
            [[ "$setting" == *=* ]] || setting="cleanup.policy=$setting"
            command+=(--config "$setting")
        done
        # The broker may accept connections before it can create topics: try again.
        until "${tool[@]}" org.apache.kafka.tools.TopicCommand "${command[@]}" >&2; do
            ((SECONDS < deadline)) || return 1
            sleep 2
        done
    done
    log "topics ready: ${KAFKA_TOPICS:-none}"
    touch "$ready"
}

java "${heap[@]}" "${jvm[@]}" kafka.Kafka "$config" &
kafka=$!
stopping=""
creator=""
trap 'stopping=1; kill -TERM "$kafka" ${creator:+"$creator"} 2>/dev/null || true' TERM INT
(
    trap - TERM INT
    create_topics || {
        log "could not create the topics $KAFKA_TOPICS: stopping Kafka"
        kill -TERM "$kafka"
    }
) &
creator=$!

# `wait` returns early when a signal is trapped: wait again until Kafka itself has exited.
status=0
while :; do
    if wait "$kafka"; then status=0; else status=$?; fi
    kill -0 "$kafka" 2>/dev/null || break
done
kill "$creator" 2>/dev/null || true
# Stopped on request: Kafka's 143 (SIGTERM) is a clean exit.
if [[ -n "$stopping" && "$status" == 143 ]]; then status=0; fi
log "Kafka exited with status $status"
exit "$status"
