#!/bin/sh
# Prestart: wait for the database to accept connections, then upgrade it to the newest migration.
# Alembic takes a lock inside the upgrade transaction on PostgreSQL, so two API replicas starting
# together do not apply the same revision twice.
set -eu

tries="${SECATEUR_DB_WAIT_TRIES:-30}"
i=0
until python -c "
from sqlalchemy import text
from secateur.kernel.db import get_engine
with get_engine().connect() as conn:
    conn.execute(text('SELECT 1'))
" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge "$tries" ]; then
        echo "prestart: the database at SECATEUR_DATABASE_URL is still unreachable after $tries tries" >&2
        exit 1
    fi
    echo "prestart: waiting for the database ($i/$tries)"
    sleep 2
done

echo "prestart: applying migrations"
python -c "from secateur.kernel.migrate import upgrade_to_head; upgrade_to_head()"
echo "prestart: database at head"
