#!/usr/bin/env bash
# Install Hallmark into .venv/ and start web, worker and beat on embedded defaults
# (SQLite and the filesystem broker under var/, media under var/media/).
# The install includes what the seed models need (a torch build for this machine, diffusers)
# unless HALLMARK_INSTALL_MODELS=none; a second start skips what is installed (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# Everything the demo writes is its own: the SQLite database holds API tokens, sessions and
# password hashes, the var folder keys and media. Nobody else on the machine reads them.
umask 077
VAR=${HALLMARK_VAR_DIR:-var}
mkdir -p "$VAR" && chmod 700 "$VAR"
PORT=${HALLMARK_PORT:-8000}
export HALLMARK_PORT=$PORT
PY=.venv/bin/python
$PY manage.py migrate --noinput -v 0
$PY manage.py provenance_init --if-missing >/dev/null
# A signed checkpoint of the audit chain at every start. Only a first start (no key and no
# checkpoint yet) makes the key: a key made afresh when the old one went missing would sign a
# rewritten chain. A refused checkpoint (the chain no longer holds the last one) is shown as a
# warning and the service still starts, so that the damage can be looked at.
audit_paths=$($PY manage.py shell -v 0 -c "from django.conf import settings as s; print(s.HALLMARK_AUDIT_SIGNING_KEY); print(s.HALLMARK_AUDIT_CHECKPOINT_DIR)")
audit_key=$(sed -n 1p <<<"$audit_paths")
audit_dir=$(sed -n 2p <<<"$audit_paths")
if [[ ! -e $audit_key ]] && ! compgen -G "$audit_dir/checkpoint-*.json" >/dev/null; then
  $PY manage.py audit_checkpoint --init-key >/dev/null || echo "WARNING: could not make the audit signing key and first checkpoint (see above)." >&2
else
  $PY manage.py audit_checkpoint >/dev/null || echo "WARNING: no audit checkpoint signed at this start (see above); run manage.py verify_audit." >&2
fi
# Only the first start creates the admin and shows its password and token (bootstrap_demo).
creds=$($PY manage.py bootstrap_demo --password-file "$VAR/admin-password.txt")
field() { sed -n "s/^$1=//p" <<<"$creds"; }
user=$(field user)
token=$(field token)
password=$(field password)
password_file=$(field password_file)

# Which plugins can take jobs, and the one thing each other one lacks.
status_errors=$(mktemp)
if ! plugins=$($PY manage.py plugin_status --manage "$PY manage.py" 2>"$status_errors"); then
  plugins="(could not list the plugins: $(tail -n 3 "$status_errors"))"
fi
rm -f "$status_errors"

# The worker also runs the scheduled maintenance that beat sends (hourly audit checkpoint, daily
# purge, the stale-job sweep, a nightly verification sample; CELERY_BEAT_SCHEDULE in settings).
# Beat keeps its schedule in the var folder. It also runs the acceptance checks (queue checks).
$PY manage.py runworker --pool solo --maintenance --checks --loglevel WARNING &
worker=$!
# One BLAS thread in beat (numpy comes with the task modules): a signal the kernel hands to an
# idle BLAS thread would wait for beat's main thread to wake, up to a minute, so Ctrl-C hung.
OPENBLAS_NUM_THREADS=1 .venv/bin/celery -A hallmark beat --loglevel WARNING &
beat=$!
# The web keeps each thread's database connection for a minute (checked before reuse): opening
# one costs more than serving a cached page of the asset list (docs/benchmarks.md).
DATABASE_CONN_MAX_AGE=${DATABASE_CONN_MAX_AGE:-60} \
  .venv/bin/gunicorn hallmark.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --log-level warning \
  --graceful-timeout 10 &
web=$!

# Ctrl-C: each process stops itself (the worker after its running job); whatever still runs
# after 15 s is killed. A job cut short that way is taken up again by the recovery sweep once
# its heartbeat is a minute old, as after a crash, and that attempt counts.
stop_all() {
  # Once only: a second Ctrl-C during the wait must not leave the processes behind, and a
  # closed terminal or pipe (SIGPIPE on the message) must not stop the force-kill.
  trap '' INT TERM PIPE
  trap - EXIT
  kill "$worker" "$beat" "$web" 2>/dev/null || true
  local pid name
  local -A names=(["$worker"]=worker ["$beat"]=beat ["$web"]=web)
  for _ in $(seq 1 150); do
    alive=()
    for pid in "$worker" "$beat" "$web"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]})) || break
    sleep 0.1
  done
  if ((${#alive[@]})); then
    if kill -0 "$web" 2>/dev/null; then pkill -KILL -P "$web" 2>/dev/null || true; fi  # gunicorn's workers
    kill -KILL "${alive[@]}" 2>/dev/null || true
    for pid in "${alive[@]}"; do name+=" ${names[$pid]} ($pid)"; done
    echo "Still running 15 s after the stop signal, stopped by force:$name" >&2 || true
  fi
  wait
}
trap stop_all INT TERM EXIT

base="http://127.0.0.1:$PORT"
if [[ -n $password ]]; then
  account="First start: log in at $base/accounts/login/ as '$user' with password: $password
  (also saved, readable only by you, in $password_file). Its API token: $token
  The password and the token are shown only this once."
elif [[ $(field account) == removed ]]; then
  account="The '$user' account made at the first start was deleted; it is not re-created
  (make one with: $PY manage.py createsuperuser)."
elif [[ $(field password_file_state) == present ]]; then
  account="Log in at $base/accounts/login/ as '$user': its password is in $password_file
  (written at the first start; delete the file once the password is stored elsewhere)."
elif [[ -n $password_file ]]; then
  account="Log in at $base/accounts/login/ as '$user'. The password file written at the first start
  ($password_file) was removed; set a new password with: $PY manage.py changepassword $user"
else
  account="Log in at $base/accounts/login/ with your account (the '$user' account existed before the first start)."
fi
if [[ -z $token ]]; then
  token='$TOKEN'
  token_hint="
  (TOKEN: your API token; $PY manage.py drf_create_token <username> prints it.)"
else
  token_hint=""
fi

cat <<MSG

  Hallmark is running at $base/
  $account

  Plugins (docs/models.md says how to get each model running):
$(sed 's/^/    /' <<<"$plugins")

  Generate with the procedural demo plugin (not an AI model) from the API:

    curl -s -H "Authorization: Token $token" -H "Content-Type: application/json" \\
         -d '{"plugin": "procedural", "prompt": "a lighthouse at dusk", "seed": 7}' \\
         $base/api/v1/generations/$token_hint

  API docs: $base/api/docs/    Stop with Ctrl-C.

MSG
wait -n $worker $beat $web
