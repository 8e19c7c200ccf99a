#!/usr/bin/env bash
# Makes sure Redis and Postgres answer at REDIS_URL / DATABASE_URL. When nothing answers at a loopback address,
# starts one: a local redis-server / Postgres cluster (project-local data under .data/ when no system cluster
# exists), or `docker compose` when a Docker engine runs. Quiet when both already answer.
set -uo pipefail

cd "$(dirname "$0")/.."
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DATA_DIR="$PWD/.data"

# host and port of a URL like scheme://[user[:pass]@]host[:port][/...]
url_host() { local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"; echo "${rest%%:*}"; }
url_port() { local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"; [[ "$rest" == *:* ]] && echo "${rest##*:}" || echo "$2"; }
is_loopback() { [[ "$1" == "127."* || "$1" == "localhost" || "$1" == "::1" ]]; }
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

redis_host=$(url_host "$REDIS_URL"); redis_port=$(url_port "$REDIS_URL" 6379)
pg_host=$(url_host "$DATABASE_URL"); pg_port=$(url_port "$DATABASE_URL" 5432)

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null)" == "PONG" ]]
  else
    tcp_open "$redis_host" "$redis_port"
  fi
}
pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$pg_host" -p "$pg_port" 2>/dev/null
  else
    tcp_open "$pg_host" "$pg_port"
  fi
}
wait_for() { for _ in $(seq 1 60); do "$1" && return 0; sleep 0.5; done; return 1; }
docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

fail() {
  echo "services: $1 does not answer and could not be started here. Provide it: set REDIS_URL / DATABASE_URL to a" \
    "running server, install redis-server and postgresql (apt-get install redis-server postgresql), or run" \
    "'docker compose up -d redis postgres'." >&2
  exit 1
}

start_redis() {
  is_loopback "$redis_host" || return 1
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p "$DATA_DIR/redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --dir "$DATA_DIR/redis" \
      --save "" --appendonly no --logfile "$DATA_DIR/redis/redis.log" >/dev/null 2>&1 || return 1
  elif docker_ok; then
    docker compose up -d redis >/dev/null 2>&1 || return 1
  else
    return 1
  fi
  wait_for redis_up
}

start_postgres() {
  is_loopback "$pg_host" || return 1
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      if grep -qs "^port *= *$pg_port" "/etc/postgresql/$version/main/postgresql.conf"; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 && wait_for pg_up && return 0
      fi
    done
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n "$bin" && -x "$bin/initdb" ]]; then
    local dir="$DATA_DIR/pg" run_as=()
    mkdir -p "$dir"
    if [[ "$(id -u)" == "0" ]]; then chown -R postgres "$dir" 2>/dev/null && run_as=(runuser -u postgres --); fi
    if [[ ! -f "$dir/PG_VERSION" ]]; then
      "${run_as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null 2>&1 || return 1
    fi
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1" \
      start >/dev/null 2>&1 || return 1
    wait_for pg_up && return 0
  fi
  if docker_ok; then
    docker compose up -d postgres >/dev/null 2>&1 && wait_for pg_up && return 0
  fi
  return 1
}

redis_up || start_redis || fail "Redis at $redis_host:$redis_port"
pg_up || start_postgres || fail "Postgres at $pg_host:$pg_port"
exit 0
