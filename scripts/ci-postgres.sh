# shellcheck shell=bash
# Starts a throw-away PostgreSQL server for the tests and exports
# CONSOLIDATE_TEST_POSTGRES_URL. Sourced by .ci/run (under `set -euo pipefail`):
#
#   . scripts/ci-postgres.sh
#
# - Uses the newest /usr/lib/postgresql/<N>/bin; installs postgresql-15 with apt
#   when there is none (needs root).
# - initdb into a new temporary folder as an unprivileged user (`postgres` when
#   it exists, else a system user `consolidate-ci` it creates; the current user
#   when not root), trust authentication, listening on 127.0.0.1 only, on the
#   first free port from 55432, with its socket in the temporary folder.
# - Creates the role and database `consolidate` (CREATEDB: each test creates
#   its own database), exports the URL and CI=1 (PostgreSQL tests then fail
#   rather than skip), and stops the server and deletes the folder on exit.
# - When CONSOLIDATE_TEST_POSTGRES_URL is already set, uses that server instead.
#
# Every run starts its own server in its own folder and port, so running
# .ci/run twice, or twice at once, works.

export CI="${CI:-1}"

if [ -n "${CONSOLIDATE_TEST_POSTGRES_URL:-}" ]; then
  echo "ci-postgres: using the server of CONSOLIDATE_TEST_POSTGRES_URL" >&2
else
  _cipg_bin=""
  for _cipg_candidate in /usr/lib/postgresql/*/bin; do
    if [ -x "$_cipg_candidate/initdb" ] && [ -x "$_cipg_candidate/pg_ctl" ]; then
      _cipg_bin="$_cipg_candidate"   # glob order: the last one is the newest
    fi
  done
  if [ -z "$_cipg_bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "ci-postgres: PostgreSQL is not installed and installing it needs root: apt-get install postgresql-15" >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "ci-postgres: installing postgresql-15 with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql-15 >&2
    _cipg_bin=/usr/lib/postgresql/15/bin
  fi

  # The unprivileged user that owns and runs the server.
  if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then
      _cipg_user=postgres
    else
      _cipg_user=consolidate-ci
      id "$_cipg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$_cipg_user"
    fi
  else
    _cipg_user="$(id -un)"
  fi
  _cipg_as() {
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u "$_cipg_user" -- "$@"
    else
      "$@"
    fi
  }

  _cipg_dir="$(mktemp -d /tmp/consolidate-ci-pg.XXXXXX)"
  chmod 0755 "$_cipg_dir"
  if [ "$(id -u)" -eq 0 ]; then chown "$_cipg_user" "$_cipg_dir"; fi

  _cipg_stop() {
    if [ -n "${_cipg_dir:-}" ] && [ -d "$_cipg_dir" ]; then
      if [ -f "$_cipg_dir/data/postmaster.pid" ]; then
        (cd "$_cipg_dir" && _cipg_as "$_cipg_bin/pg_ctl" -D "$_cipg_dir/data" -m fast -w stop >/dev/null 2>&1) || true
      fi
      rm -rf "$_cipg_dir"
    fi
  }
  trap _cipg_stop EXIT
  trap '_cipg_stop; exit 130' INT TERM

  # The first port from 55432 that nothing listens on.
  _cipg_port=55432
  while (exec 3<>"/dev/tcp/127.0.0.1/$_cipg_port") 2>/dev/null; do
    _cipg_port=$((_cipg_port + 1))
    if [ "$_cipg_port" -gt 55632 ]; then
      echo "ci-postgres: no free port in 55432-55632" >&2
      return 1 2>/dev/null || exit 1
    fi
  done

  (cd "$_cipg_dir" && _cipg_as "$_cipg_bin/initdb" -D "$_cipg_dir/data" -U postgres \
    --auth=trust --encoding=UTF8 --locale=C --no-sync >"$_cipg_dir/initdb.log" 2>&1) || {
    cat "$_cipg_dir/initdb.log" >&2
    echo "ci-postgres: initdb failed" >&2
    return 1 2>/dev/null || exit 1
  }
  (cd "$_cipg_dir" && _cipg_as "$_cipg_bin/pg_ctl" -D "$_cipg_dir/data" -l "$_cipg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $_cipg_port -c unix_socket_directories=$_cipg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null) || {
    cat "$_cipg_dir/server.log" >&2
    echo "ci-postgres: the server did not start" >&2
    return 1 2>/dev/null || exit 1
  }
  "$_cipg_bin/psql" -X -q -h 127.0.0.1 -p "$_cipg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE consolidate LOGIN CREATEDB PASSWORD 'consolidate'" \
    -c "CREATE DATABASE consolidate OWNER consolidate" >&2

  export CONSOLIDATE_TEST_POSTGRES_URL="postgres://consolidate:consolidate@127.0.0.1:$_cipg_port/consolidate"
  echo "ci-postgres: PostgreSQL $("$_cipg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$_cipg_port (data in $_cipg_dir), stopped on exit" >&2
fi
