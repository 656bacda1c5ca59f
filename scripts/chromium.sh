#!/usr/bin/env bash
# Make sure a Chromium exists for the web page's browser tests (tests/app/ui), which Playwright drives
# through its `executable_path`: Playwright's own browser download is never used. Debian's `chromium`
# is installed when it is missing and apt-get can run as root. This never fails the install: without
# a browser the browser tests skip with the reason (or fail under SECATEUR_REQUIRE_SERVICES=1).
set -uo pipefail

say() { printf '[chromium] %s\n' "$*"; }

for candidate in "${SECATEUR_CHROMIUM:-}" "$(command -v chromium 2>/dev/null)" /usr/bin/chromium; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    say "no Chromium, and apt-get is not available as root: the browser tests will skip."
    say "Install Debian's 'chromium' (or set SECATEUR_CHROMIUM to a Chromium binary) to run them."
    exit 0
fi

log=$(mktemp)
say "installing Debian's chromium for the browser tests (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y --no-install-recommends chromium >"$log" 2>&1 ||
    { apt-get update >>"$log" 2>&1 && apt-get install -y --no-install-recommends chromium >>"$log" 2>&1; }; then
    say "installed $(command -v chromium)"
else
    say "WARNING: could not install chromium (see $log); the browser tests will skip."
fi
exit 0
