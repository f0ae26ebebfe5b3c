#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis the tests will use answer before the tests run.
#
# They are TEST_DATABASE_URL and TEST_REDIS_URL (the Makefile passes its defaults:
# postgres://postgres@127.0.0.1:5432/chatbackend and redis://127.0.0.1:6379/0). A server on this
# machine that is installed but stopped is started; one elsewhere is only checked. Whatever is
# missing is named exactly, with the Debian packages that provide it. Nothing is installed here:
# installing and configuring a database server is the machine owner's decision.
set -euo pipefail

DATABASE_URL_TO_CHECK="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/chatbackend}"
REDIS_URL_TO_CHECK="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

# parse_url URL DEFAULT_PORT: sets url_host, url_port and url_base (the URL up to its path).
parse_url() {
  local scheme=${1%%://*} rest=${1#*://} authority userinfo=""
  rest=${rest%%\?*}
  authority=${rest%%/*}
  if [[ $authority == *@* ]]; then
    userinfo=${authority%@*}@
    authority=${authority##*@}
  fi
  if [[ $authority =~ ^\[([^]]*)\](:([0-9]+))?$ ]] || [[ $authority =~ ^([^:]*)(:([0-9]+))?$ ]]; then
    url_host=${BASH_REMATCH[1]}
    url_port=${BASH_REMATCH[3]:-$2}
  else
    echo "error: cannot read host and port from '$1'" >&2
    exit 1
  fi
  url_host=${url_host:-localhost}  # no host: libpq's local socket, i.e. this machine
  url_base="$scheme://$userinfo$authority"
}

is_local() {
  case "$1" in localhost | 127.* | ::1 | /*) return 0 ;; *) return 1 ;; esac
}

# A TCP connect, for when the client tools are not installed.
port_open() { timeout 2 bash -c ": </dev/tcp/$1/$2" 2>/dev/null; }

wait_for() {  # wait_for NAME CHECK
  for _ in $(seq 1 30); do "$2" && return 0; sleep 0.5; done
  echo "error: $1 did not come up" >&2
  return 1
}

# --- PostgreSQL -----------------------------------------------------------------------------
parse_url "$DATABASE_URL_TO_CHECK" 5432
pg_host=$url_host pg_port=$url_port
pg_where="$pg_host:$pg_port (TEST_DATABASE_URL)"
# The suite connects to the maintenance database to create and drop its own test database.
pg_admin_url="$url_base/postgres"
[[ $DATABASE_URL_TO_CHECK == *\?* ]] && pg_admin_url+="?${DATABASE_URL_TO_CHECK#*\?}"

pg_up() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -d "$DATABASE_URL_TO_CHECK" 2>/dev/null
  else
    port_open "$pg_host" "$pg_port"
  fi
}

if ! pg_up; then
  if ! is_local "$pg_host"; then
    echo "error: PostgreSQL is not answering at $pg_where." >&2
    echo "It is not on this machine, so this script cannot start it: start that server, or" >&2
    echo "set TEST_DATABASE_URL to one that answers." >&2
    exit 1
  fi
  # Debian's clusters (postgresql-common): start the one configured for the wanted port.
  cluster=""
  if command -v pg_lsclusters >/dev/null; then
    cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$pg_port" '$3 == port {print $1, $2; exit}')
  fi
  if [ -n "$cluster" ]; then
    echo "Starting PostgreSQL cluster $cluster on port $pg_port ..."
    # shellcheck disable=SC2086  # "version name", two arguments
    pg_ctlcluster --skip-systemctl-redirect $cluster start
    wait_for PostgreSQL pg_up
  elif command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo "error: PostgreSQL is not answering at $pg_where, and no installed cluster uses" >&2
    echo "port $pg_port. The installed clusters (pg_lsclusters):" >&2
    pg_lsclusters >&2
    echo "Set TEST_DATABASE_URL to one of their ports, or change a cluster's port." >&2
    exit 1
  else
    echo "error: PostgreSQL is not answering at $pg_where and no PostgreSQL cluster is" >&2
    echo "installed on this machine. Install it:" >&2
    echo "  sudo apt-get install postgresql postgresql-client" >&2
    echo "(the server, initdb and pg_ctl, which the fault tests run as throwaway clusters, and" >&2
    echo "pg_isready/psql). The default TEST_DATABASE_URL has no password: allow user postgres" >&2
    echo "from 127.0.0.1 in /etc/postgresql/*/main/pg_hba.conf with" >&2
    echo "  host all postgres 127.0.0.1/32 trust" >&2
    echo "or set TEST_DATABASE_URL=postgres://user:password@host:port/db for a server you have." >&2
    exit 1
  fi
fi

# Answering is not enough: the suite must also be let in (user, password, pg_hba.conf).
if command -v psql >/dev/null; then
  if ! login_error=$(psql -X -w -q -d "$pg_admin_url" -c "SELECT 1" 2>&1 >/dev/null); then
    echo "error: PostgreSQL answers at $pg_where but refuses the tests' login:" >&2
    echo "  $login_error" >&2
    echo "Allow it (trust for that user from this host in pg_hba.conf, or a password in" >&2
    echo "TEST_DATABASE_URL); the user must be allowed to create databases." >&2
    exit 1
  fi
fi

# --- Redis ----------------------------------------------------------------------------------
parse_url "$REDIS_URL_TO_CHECK" 6379
redis_host=$url_host redis_port=$url_port
redis_where="$redis_host:$redis_port (TEST_REDIS_URL)"

redis_up() {
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL_TO_CHECK" ping 2>/dev/null | grep -q PONG
  else
    port_open "$redis_host" "$redis_port"
  fi
}

if ! redis_up; then
  if ! is_local "$redis_host"; then
    echo "error: Redis is not answering at $redis_where." >&2
    echo "It is not on this machine, so this script cannot start it: start that server, or" >&2
    echo "set TEST_REDIS_URL to one that answers." >&2
    exit 1
  fi
  if command -v redis-server >/dev/null; then
    echo "Starting Redis on port $redis_port ..."
    # Nothing on disk: the tests' data is throwaway.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" \
      --appendonly no --dir /tmp --logfile "/tmp/chatbackend-redis-$redis_port.log"
    wait_for Redis redis_up
  else
    echo "error: Redis is not answering at $redis_where and redis-server is not installed." >&2
    echo "Install it (the fault tests also run redis-server themselves, on ports of their own):" >&2
    echo "  sudo apt-get install redis-server" >&2
    echo "or set TEST_REDIS_URL to a server you have." >&2
    exit 1
  fi
fi
echo "PostgreSQL ($pg_host:$pg_port) and Redis ($redis_host:$redis_port) are up."
