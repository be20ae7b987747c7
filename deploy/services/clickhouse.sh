#!/usr/bin/env bash
# ClickHouse server for the integration tests: Debian's clickhouse-server (18.16.1, the only server build any package
# source here offers), fetched with `apt-get download` and unpacked with `dpkg -x` into $CDP_SVC_DIR, so no root and
# no system install is needed; its shared libraries come the same way and are found through LD_LIBRARY_PATH.
# Usage: clickhouse.sh up   (idempotent; stdout is only `export ...` lines, progress on stderr)
#        clickhouse.sh down (stops it by its PID file; deploy/services/down does the same for every service)
# 18.16 lacks DateTime64, the JSON type, query parameters and more: cdp's own schema needs a modern server, so this one
# serves test/integration/clickhouse-server.test.ts (the HTTP path), not the full suite (README, "ClickHouse server").
set -euo pipefail
D=${CDP_SVC_DIR:-$HOME/.cache/cdp/services}; mkdir -p "$D"
CH_HTTP_PORT=${CDP_CLICKHOUSE_PORT:-8123}
CH_TCP_PORT=$((CH_HTTP_PORT + 10877))   # 8123 -> 19000: off 9000, which MinIO holds
CH_USER=cdp; CH_PASS=cdp-secret; CH_DB=cdp
R="$D/clickhouse-18.16"                 # unpacked packages (cached); the server's state lives in $D/clickhouse
C="$D/clickhouse"
log() { echo "[services] $*" >&2; }
# Running, and not a zombie that no one has reaped yet (right after a kill -9, kill -0 still succeeds on it).
alive() {
  local p; [ -f "$D/clickhouse.pid" ] && p=$(cat "$D/clickhouse.pid") && kill -0 "$p" 2>/dev/null &&
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
libs() { echo "$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu:$R/usr/lib"; }

install_packages() {
  [ -x "$R/usr/sbin/clickhouse-server" ] && [ -f "$R/.complete" ] && return
  command -v apt-get >/dev/null || { log "clickhouse: no apt-get here to fetch Debian's clickhouse-server"; exit 1; }
  if ! apt-cache show clickhouse-server >/dev/null 2>&1; then
    log "clickhouse: apt lists lack clickhouse-server; running apt-get update"
    apt-get update -qq >&2 || { log "clickhouse: apt-get update failed (needs root or fresh lists)"; exit 1; }
  fi
  # The server, its engine library and every library dependency this machine does not have installed already.
  local pkgs
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
           --no-enhances --no-pre-depends clickhouse-server 2>/dev/null | grep -E '^(clickhouse-|lib)' | sort -u |
         while read -r p; do
           [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
         done)
  local debs="$R.debs"; rm -rf "$R" "$debs"; mkdir -p "$R" "$debs"
  log "clickhouse: downloading $(echo $pkgs | wc -w) Debian packages"
  # shellcheck disable=SC2086
  (cd "$debs" && apt-get download -qq $pkgs) >&2 2>"$debs/apt.log" || { cat "$debs/apt.log" >&2; log "clickhouse: apt-get download failed"; exit 1; }
  for f in "$debs"/*.deb; do dpkg -x "$f" "$R"; done
  rm -rf "$debs"
  local missing
  missing=$(LD_LIBRARY_PATH=$(libs) ldd "$R/usr/sbin/clickhouse-server" | grep 'not found' || true)
  [ -z "$missing" ] || { log "clickhouse: libraries still missing: $missing"; exit 1; }
  touch "$R/.complete"
}

write_config() {
  mkdir -p "$C/data/tmp" "$C/data/user_files"
  cat >"$C/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
 <logger><level>warning</level><log>$C/server.log</log><errorlog>$C/server.err.log</errorlog><size>50M</size><count>2</count></logger>
 <listen_host>127.0.0.1</listen_host><http_port>$CH_HTTP_PORT</http_port><tcp_port>$CH_TCP_PORT</tcp_port>
 <path>$C/data/</path><tmp_path>$C/data/tmp/</tmp_path><user_files_path>$C/data/user_files/</user_files_path>
 <users_config>$C/users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
 <timezone>UTC</timezone><mark_cache_size>268435456</mark_cache_size><max_concurrent_queries>50</max_concurrent_queries>
</yandex>
EOF
  # `cdp` has a password (the tests check an auth failure); `default` stays passwordless for this script's probes.
  cat >"$C/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
 <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
 <users>
  <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
  <$CH_USER><password>$CH_PASS</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></$CH_USER>
 </users>
 <quotas><default/></quotas>
</yandex>
EOF
}

up() {
  if alive; then
    log "clickhouse already running (pid $(cat "$D/clickhouse.pid"))"
  else
    port_busy "$CH_HTTP_PORT" && { log "port $CH_HTTP_PORT busy but not ours (set CDP_CLICKHOUSE_PORT)"; exit 1; }
    install_packages
    write_config
    LD_LIBRARY_PATH=$(libs) setsid "$R/usr/sbin/clickhouse-server" --config-file="$C/config.xml" \
      >"$D/clickhouse.log" 2>&1 </dev/null & echo $! >"$D/clickhouse.pid"
    local end=$((SECONDS + 60))
    until curl -sf "http://127.0.0.1:$CH_HTTP_PORT/ping" >/dev/null 2>&1; do
      alive || { log "clickhouse died; tail of its logs:"; tail -20 "$D/clickhouse.log" "$C/server.err.log" >&2 2>/dev/null; exit 1; }
      [ $SECONDS -lt $end ] || { log "clickhouse not ready after 60 s"; exit 1; }
      sleep 0.2
    done
    curl -sf "http://127.0.0.1:$CH_HTTP_PORT/" --data-binary "CREATE DATABASE IF NOT EXISTS $CH_DB" >/dev/null
    log "clickhouse $(curl -s "http://127.0.0.1:$CH_HTTP_PORT/?query=SELECT%20version()") up on 127.0.0.1:$CH_HTTP_PORT"
  fi
  # Where the server is, not a choice of backend: cdp uses it only with CDP_WAREHOUSE=clickhouse.
  echo "export CDP_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT CDP_CLICKHOUSE_USER=$CH_USER CDP_CLICKHOUSE_PASSWORD=$CH_PASS CDP_CLICKHOUSE_DATABASE=$CH_DB"
}

down() {
  alive || { rm -f "$D/clickhouse.pid"; return; }
  local pid; pid=$(cat "$D/clickhouse.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "clickhouse ignored SIGTERM; killing"; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; }
  rm -f "$D/clickhouse.pid"; log "clickhouse stopped"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 1 ;;
esac
