#!/bin/sh
# System packages of the browser test (tests/test_browser.py), called by `make browser-deps`:
# chromium (apt, as root) and playwright-core (npm, into tests/browser/node_modules).
# Idempotent and quick when both are there. Nothing here fails `make`: where a package cannot
# be installed (not root, no network) it says so, and the browser test skips with the reason.
cd "$(dirname "$0")" || exit 1
CHROMIUM=/usr/bin/chromium
warn() { echo "browser-deps: $*; tests/test_browser.py will be skipped" >&2; }
apt_install() {
    if [ "$(id -u)" != 0 ]; then warn "$1 is missing and this user is not root, so apt cannot install it"; return 1; fi
    echo "browser-deps: apt-get install $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || { warn "apt-get install $* failed"; return 1; }
}

[ -x "$CHROMIUM" ] || apt_install chromium chromium-driver
if [ ! -d node_modules/playwright-core ]; then
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    if command -v npm >/dev/null 2>&1; then
        echo "browser-deps: npm ci (playwright-core)"
        npm ci --no-audit --no-fund --loglevel=error || warn "npm ci failed"
    fi
fi
exit 0
