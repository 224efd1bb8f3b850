# shellcheck shell=bash
# stack.sh's postgres: PostgreSQL from the Debian packages: one cluster per stack, the services'
# and the registry's databases.
# Sourced by deploy/local/stack.sh, whose settings and helpers it uses; not run alone.

# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------

# Runs a command as the OS user that owns the cluster (postgres when we are root).
as_pg() {
  if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

psql_q() {
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
    -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

install_postgres() {
  if [[ ! -x $PG_BIN/postgres ]]; then
    # Don't let the Debian package create (and start) a system cluster on 5432.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
      apt_install postgresql-common
    fi
    as_root sed -ri 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    apt_install "postgresql-$POSTGRES_MAJOR"
  fi
  [[ -x $PG_BIN/postgres ]] || die "postgres: $PG_BIN/postgres missing after apt-get install"
}

# The data directory postgres itself uses (symlink resolved).
pg_data_dir() {
  local link="$STATE_DIR/postgres"
  if [[ -L $link ]]; then readlink -m "$link"; else echo "$link"; fi
}

pg_external_dir() {
  echo "/var/lib/orderflow/$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-16)"
}

init_postgres() {
  local link="$STATE_DIR/postgres" data pwfile
  if [[ ! -e $link && ! -L $link ]]; then
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$STATE_DIR" 2>/dev/null; then
      data="$(pg_external_dir)/postgres"
      say "postgres: user 'postgres' cannot reach $STATE_DIR; data goes to $data (symlinked)"
      mkdir -p "$data"
      ln -s "$data" "$link"
    else
      mkdir -p "$link"
    fi
  fi
  data=$(pg_data_dir)
  [[ -f $data/PG_VERSION ]] && return 0

  say "postgres: initdb in $data"
  mkdir -p "$data"
  ((EUID == 0)) && chown postgres:postgres "$data"
  chmod 700 "$data"
  # The password file sits beside the data dir, where the postgres user can read it.
  pwfile=$(mktemp "$(dirname "$data")/.pgpw.XXXXXX")
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  ((EUID == 0)) && chown postgres "$pwfile"
  if ! as_pg "$PG_BIN/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" \
      --auth=scram-sha-256 --encoding=UTF8 --no-locale >>"$LOG_DIR/postgres.log" 2>&1; then
    rm -f "$pwfile"
    fail_component postgres "initdb failed"
  fi
  rm -f "$pwfile"
  # TCP on 127.0.0.1 with a password only; the unix socket is disabled at start.
  cat >"$data/pg_hba.conf" <<'EOF'
# Written by deploy/local/stack.sh: password (SCRAM) logins over 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
EOF
  ((EUID == 0)) && chown postgres:postgres "$data/pg_hba.conf"
  return 0
}

start_postgres() {
  local data
  data=$(pg_data_dir)
  local cmd=("$PG_BIN/postgres" -D "$data"
    -c port="$PG_PORT"
    -c listen_addresses=127.0.0.1
    -c unix_socket_directories=
    -c max_connections=400
    -c shared_buffers=256MB
    -c logging_collector=off)
  if ((EUID == 0)); then
    # setpriv exec()s (unlike runuser/su, which fork and SIGKILL on SIGTERM),
    # so the recorded pid is the postmaster itself.
    cmd=(setpriv --reuid=postgres --regid=postgres --init-groups "${cmd[@]}")
  fi
  launch postgres / "${cmd[@]}"
}

probe_postgres() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

setup_postgres() {
  local existing db
  existing=$(psql_q -c 'SELECT datname FROM pg_database') ||
    fail_component postgres "cannot log in as $PG_USER on 127.0.0.1:$PG_PORT"
  for db in "${DATABASES[@]}"; do
    if ! grep -qxF "$db" <<<"$existing"; then
      say "postgres: creating database $db"
      psql_q -c "CREATE DATABASE \"$db\"" || fail_component postgres "CREATE DATABASE $db failed"
    fi
  done
  existing=$(psql_q -c 'SELECT datname FROM pg_database')
  for db in "${DATABASES[@]}"; do
    grep -qxF "$db" <<<"$existing" || fail_component postgres "database $db missing"
  done
}
