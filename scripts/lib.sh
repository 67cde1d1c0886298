# Shared set-up steps for scripts/run.sh and scripts/test.sh.
# Every step checks first and does nothing when its work is already done, so
# re-running either command is safe and fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HRMARS_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
# Debian's own interpreter: it is built with SQLite extension loading, which
# SpatiaLite needs (some pyenv/conda builds are not).
BASE_PYTHON="${HRMARS_BASE_PYTHON:-/usr/bin/python3}"

log() { printf '\033[1;34m[hrmars]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[hrmars] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

_apt_updated=0
# ensure_apt PKG...: install the Debian packages that are not installed yet.
ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ $_apt_updated = 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What Debian's Python needs to make a virtualenv, and SpatiaLite for the
# embedded database. GDAL/GEOS/PROJ come with the rasterio wheel
# (hrmars_site/geolibs.py), so no Debian GDAL is needed.
ensure_base_packages() {
  ensure_apt python3 python3-venv python3-dev build-essential binutils \
    libsqlite3-mod-spatialite ca-certificates curl procps
}

# ensure_venv REQUIREMENTS_FILE...: a virtualenv on Debian's Python with those
# installed. A stamp per file (its hash plus requirements.txt's) skips pip when
# nothing changed, so re-runs take no time and need no network.
ensure_venv() {
  local reqs=("$@"); [ ${#reqs[@]} -gt 0 ] || reqs=("$ROOT/requirements.txt")
  [ -x "$BASE_PYTHON" ] || die "$BASE_PYTHON not found (set HRMARS_BASE_PYTHON)"
  if ! "$BASE_PYTHON" -c 'import sqlite3,sys; sys.exit(0 if hasattr(sqlite3.connect(":memory:"), "enable_load_extension") else 1)'; then
    die "$BASE_PYTHON was built without SQLite extension loading, so SpatiaLite cannot load.
Use Debian's /usr/bin/python3 (HRMARS_BASE_PYTHON=/usr/bin/python3) or rebuild Python with
--enable-loadable-sqlite-extensions."
  fi
  if [ ! -x "$PY" ]; then
    log "creating virtualenv $VENV"
    "$BASE_PYTHON" -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip wheel
  fi
  local r stale=() args=()
  for r in "${reqs[@]}"; do
    [ "$(cat "$VENV/.stamp-${r##*/}" 2>/dev/null)" = "$(_req_hash "$r")" ] || stale+=("$r")
  done
  [ ${#stale[@]} -eq 0 ] && return 0
  log "installing Python packages (${stale[*]##*/})"
  for r in "${stale[@]}"; do args+=(-r "$r"); done
  "$PY" -m pip install -q "${args[@]}"
  for r in "${stale[@]}" "$ROOT/requirements.txt"; do _req_hash "$r" > "$VENV/.stamp-${r##*/}"; done
}

_req_hash() { cat "$1" "$ROOT/requirements.txt" | sha256sum | cut -d' ' -f1; }

# PostgreSQL + PostGIS on loopback, with a role and database for HR-MARS and
# the postgis extension in template1 so test databases get it too.
PG_USER="${HRMARS_PG_USER:-hrmars}"
PG_PASSWORD="${HRMARS_PG_PASSWORD:-hrmars}"
PG_DB="${HRMARS_PG_DB:-hrmars}"
PG_PORT="${HRMARS_PG_PORT:-5432}"

pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }

psql_admin() { as_root runuser -u postgres -- env PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }

ensure_postgis() {
  command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_major)" ] || ensure_apt postgresql
  if ! pg_lsclusters -h | awk -v p="$PG_PORT" '$3==p' | grep -q .; then
    log "creating PostgreSQL $(pg_major) cluster on port $PG_PORT"
    as_root pg_createcluster -p "$PG_PORT" "$(pg_major)" main >/dev/null
  fi
  # PostGIS must match the server that serves the port, which need not be the newest installed.
  local ver name
  read -r ver name _ < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3==p')
  ensure_apt "postgresql-$ver-postgis-3" postgresql-client
  if ! pg_lsclusters -h | awk -v p="$PG_PORT" '$3==p && $4=="online"' | grep -q .; then
    log "starting PostgreSQL $ver/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
  fi
  for _ in $(seq 30); do as_root runuser -u postgres -- pg_isready -q -p "$PG_PORT" && break; sleep 1; done
  psql_admin -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE "$PG_USER" LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  psql_admin -d template1 -c 'CREATE EXTENSION IF NOT EXISTS postgis;'
  if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1; then
    psql_admin -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\";"
  fi
  psql_admin -d "$PG_DB" -c 'CREATE EXTENSION IF NOT EXISTS postgis;'
}

# The imagery tests run a real STAC API (stac-fastapi-pgstac) on a pgstac schema of their own database,
# which installs extensions and roles: a login role that may do that, for tests only, local connections.
ensure_stac_test_role() {
  psql_admin -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hrmars_stac') THEN
    CREATE ROLE hrmars_stac LOGIN SUPERUSER PASSWORD 'hrmars_stac';
  END IF;
END \$\$;
SQL
}

ensure_redis() {
  if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    return 0
  fi
  ensure_apt redis-server redis-tools
  log "starting Redis on 127.0.0.1:6379"
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir /tmp --logfile /tmp/hrmars-redis.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG && return 0; sleep 0.5; done
  die "Redis did not start (see /tmp/hrmars-redis.log)"
}

ensure_chromium() {
  ensure_apt chromium fonts-dejavu-core
}

# nginx serves the imagery tests' COGs over HTTP with Range requests, as object stores do.
ensure_nginx() {
  ensure_apt nginx-light
}

# bubblewrap: the sandbox strangers' models run in (ml/sandbox.py); nothing runs them without it.
ensure_bubblewrap() {
  ensure_apt bubblewrap
}
