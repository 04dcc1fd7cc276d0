#!/usr/bin/env bash
# Install Hallmark into .venv/ and start web and worker on embedded defaults
# (SQLite and the filesystem broker under var/, media under var/media/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
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
VAR=${HALLMARK_VAR_DIR:-var}
mkdir -p "$VAR"
creds=$($PY manage.py bootstrap_demo --password-file "$VAR/admin-password.txt")
token=$(sed -n 's/^token=//p' <<<"$creds")
password=$(cat "$VAR/admin-password.txt" 2>/dev/null || echo "(unchanged since the first start)")

$PY manage.py runworker --pool solo --loglevel WARNING &
worker=$!
.venv/bin/gunicorn hallmark.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --log-level warning &
web=$!
trap 'kill $worker $web 2>/dev/null; wait' INT TERM EXIT

cat <<MSG

  Hallmark is running at http://127.0.0.1:$PORT/
  Log in at http://127.0.0.1:$PORT/accounts/login/ as 'admin' with password: $password
  The procedural demo plugin (not an AI model) is enabled. From the API:

    curl -s -H "Authorization: Token $token" -H "Content-Type: application/json" \\
         -d '{"plugin": "procedural", "prompt": "a lighthouse at dusk", "seed": 7}' \\
         http://127.0.0.1:$PORT/api/v1/generations/

  API docs: http://127.0.0.1:$PORT/api/docs/    Stop with Ctrl-C.

MSG
wait -n $worker $web
