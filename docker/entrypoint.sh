#!/bin/sh
# Container entrypoint: apply the database migrations first where asked (the API service), then
# hand the process over to the command so signals reach uvicorn / celery directly.
set -eu
# Owner-only files on the shared volumes: the database, blobs and work dirs are nobody else's business.
umask 077

if [ "${SECATEUR_RUN_MIGRATIONS:-0}" = "1" ]; then
    /app/docker/prestart.sh
fi

exec "$@"
