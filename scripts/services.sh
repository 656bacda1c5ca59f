#!/usr/bin/env bash
# Make sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) answer before the tests run.
# A service that is installed but stopped is started; one that is not installed is reported, and
# the tests that need it skip with a reason. SECATEUR_REQUIRE_SERVICES=1 (set by .ci/run) turns a
# missing service into a failure, so CI cannot go green by skipping the database and broker tests.
set -uo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT="${SERVICES_REDIS_PORT:-6379}"  # overridable only to test this script
PG_HOST=127.0.0.1
PG_PORT=5432
missing=()

say() { printf '[services] %s\n' "$*"; }

# Poll a check command for up to ~20 s: servers take a moment to accept connections after start.
wait_for() {
    local i
    for i in $(seq 1 40); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
    else
        # No client: settle for an open port.
        (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT") 2>/dev/null
    fi
}

pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
    else
        (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
    fi
}

ensure_redis() {
    if redis_up; then
        say "Redis: running at $REDIS_HOST:$REDIS_PORT"
        return
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        say "Redis: NOT INSTALLED (no redis-server on PATH); tests that need the broker will skip."
        say "       install it with: apt-get install redis-server   (or: brew install redis)"
        missing+=(redis)
        return
    fi
    say "Redis: installed but not running; starting it"
    # No persistence: the tests want a throwaway broker, not one that writes dump files into the repo.
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        >/dev/null
    if wait_for redis_up; then
        say "Redis: started at $REDIS_HOST:$REDIS_PORT"
    else
        say "Redis: FAILED to start at $REDIS_HOST:$REDIS_PORT"
        missing+=(redis)
    fi
}

ensure_postgres() {
    if pg_up; then
        say "PostgreSQL: running at $PG_HOST:$PG_PORT"
        return
    fi
    local versions=""
    [ -d /etc/postgresql ] && versions="$(ls /etc/postgresql 2>/dev/null)"
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$versions" ]; then
        say "PostgreSQL: NOT INSTALLED (no pg_ctlcluster or no cluster under /etc/postgresql);"
        say "            tests that need it will skip. Install it with: apt-get install postgresql"
        missing+=(postgresql)
        return
    fi
    local version
    version="$(printf '%s\n' "$versions" | sort -V | tail -n 1)"
    say "PostgreSQL: installed ($version) but not running; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    if wait_for pg_up; then
        say "PostgreSQL: started at $PG_HOST:$PG_PORT"
    else
        say "PostgreSQL: FAILED to start at $PG_HOST:$PG_PORT"
        missing+=(postgresql)
    fi
}

ensure_redis
ensure_postgres

if [ "${#missing[@]}" -gt 0 ]; then
    say "missing: ${missing[*]}"
    if [ "${SECATEUR_REQUIRE_SERVICES:-0}" = "1" ]; then
        say "SECATEUR_REQUIRE_SERVICES=1: refusing to run the suite without them."
        exit 1
    fi
fi
exit 0
