# Kafka part of deploy/services/up (sourced by it; uses its log/alive/port_busy/wait_for/start helpers and $D).
# A single-node KRaft broker (Apache Kafka 4.4.0, broker and controller in one JVM) from Maven Central jars: no
# tarball download exists here, and no Docker. The jars are resolved once into $D/kafka/libs (~45 MB, ~10 s cold),
# the log dir is formatted once, then each start takes ~3 s. `down` stops it by $D/kafka.pid like every service.
KAFKA_VERSION=4.4.0
KAFKA_PORT=${CDP_KAFKA_PORT:-9092}
KAFKA_HEAP=${CDP_KAFKA_HEAP:-768m}

kafka_jars() { # resolves the broker's runtime classpath into $1/libs once (a marker names the version it holds)
  local K=$1
  [ -f "$K/libs/.version" ] && [ "$(cat "$K/libs/.version")" = "$KAFKA_VERSION" ] && return
  command -v mvn >/dev/null || { log "no maven to fetch the kafka jars (apt-get install maven)"; exit 1; }
  log "fetching kafka $KAFKA_VERSION jars with maven (once)"
  rm -rf "$K/libs"; mkdir -p "$K/libs"
  # 4.x ships no slf4j binding: without log4j-slf4j-impl the broker prints nothing, and readiness is read from its log.
  cat >"$K/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>cdp.services</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$K" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime) >&2
  echo "$KAFKA_VERSION" >"$K/libs/.version"
}

kafka_up() {
  alive kafka && { log "kafka already running (pid $(cat "$D/kafka.pid"))"; kafka_exports; return; }
  port_busy "$KAFKA_PORT" && { log "port $KAFKA_PORT busy but not ours (set CDP_KAFKA_PORT)"; exit 1; }
  command -v java >/dev/null || { log "no java to run kafka (apt-get install openjdk-17-jre-headless)"; exit 1; }
  local K="$D/kafka"; mkdir -p "$K/data"
  kafka_jars "$K"
  cat >"$K/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((KAFKA_PORT + 1))
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$((KAFKA_PORT + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$K/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
EOF
  cat >"$K/log4j2.properties" <<'EOF'
appender.o.type=Console
appender.o.name=O
appender.o.layout.type=PatternLayout
appender.o.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.o.ref=O
logger.kc.name=kafka.server.KafkaConfig
logger.kc.level=WARN
EOF
  local LOGCFG="-Dlog4j2.configurationFile=$K/log4j2.properties"
  if [ ! -f "$K/data/meta.properties" ]; then
    local cid; cid=$(java "$LOGCFG" -cp "$K/libs/*" kafka.tools.StorageTool random-uuid | tail -1)
    java "$LOGCFG" -cp "$K/libs/*" kafka.tools.StorageTool format -t "$cid" -c "$K/server.properties" >"$K/format.log" 2>&1 \
      || { log "formatting the kafka log dir failed; see $K/format.log"; exit 1; }
  fi
  rm -f "$D/kafka.log"  # `start` truncates it in the child: an old "started" line must not be read as ready
  start kafka java -Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseSerialGC "$LOGCFG" -cp "$K/libs/*" kafka.Kafka "$K/server.properties"
  wait_for kafka 90 grep -q "Kafka Server started" "$D/kafka.log"
  log "kafka up on 127.0.0.1:$KAFKA_PORT"
  kafka_exports
}

kafka_exports() { echo "export CDP_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"; }
