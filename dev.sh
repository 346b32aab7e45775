#!/usr/bin/env bash
# Developer entry point: `./dev.sh demo` exports a bundled example; `./dev.sh test` runs the tests.
# Both set up what they need first (a .venv with gitexport and its test tools; git-lfs).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}

setup() {
    if ! command -v git-lfs >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git-lfs >/dev/null
        else
            echo "git-lfs is missing: install it (e.g. sudo apt-get install git-lfs)" >&2
            exit 1
        fi
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    # Reinstall only when pyproject.toml changed; keep pip's chatter in a log unless it fails.
    stamp="$VENV/.gitexport-installed"
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setting up $VENV (pip install -e '.[test]') ..." >&2
        if ! { "$VENV/bin/python" -m pip install -q --upgrade pip \
                && "$VENV/bin/python" -m pip install -q -e ".[test]"; } >"$VENV/pip.log" 2>&1; then
            cat "$VENV/pip.log" >&2
            exit 1
        fi
        echo "$want" >"$stamp"
    fi
}

case "${1:-}" in
    demo)
        setup
        rm -rf out/demo
        # The bundled telco churn example, exported into a local git repo (no network, no account).
        "$VENV/bin/gitexport" export --example telco_churn --out out/demo/customer-churn-model
        echo
        "$VENV/bin/gitexport" log out/demo/customer-churn-model
        ;;
    test)
        setup
        shift
        # On every core (pytest-xdist), a test file per worker so that the session fixtures
        # that build and train projects run once; PYTEST_WORKERS=0 runs in one process.
        "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
