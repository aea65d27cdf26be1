#!/usr/bin/env bash
# `make e2e`: the browser end-to-end test (tests/e2e/test_ui_release.py) against a Dagster UI started here.
#
# A fresh home in a temporary folder with the small demo release registered (tests/e2e/ui_home.py); `dagster
# dev` on 127.0.0.1 at a free port, started under job control (set -m) so that it, its webserver, daemon, code
# server and the runs they launch form one process group, stopped whole on the way out (success, failure,
# Ctrl-C, SIGTERM): SIGTERM, then SIGKILL to whatever is left after 20 s. pytest runs as a job of its own too,
# and is stopped first. Screenshots and the UI's log go to .e2e/run-<time>/ (.e2e/latest points at it); the
# home is deleted when the test passes, kept when it fails. Exits with pytest's status (0 passed), 2 when the
# UI cannot start, 130 when interrupted.
set -uo pipefail
set -m
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
id=$(date -u +%Y%m%d-%H%M%S)
out=.e2e/run-$id
mkdir -p "$out/screenshots" && ln -sfn "run-$id" .e2e/latest
home=$(mktemp -d "${TMPDIR:-/tmp}/synthdata-e2e.XXXXXX")
# A developer's own settings must not reach this throwaway home (as the tests' home fixture does).
unset DAGSTER_HOME SYNTHDATA_LEDGER_URL SYNTHDATA_DAGSTER_POSTGRES_URL SYNTHDATA_APPROVERS_FILE SYNTHDATA_DEPLOYMENT_USER
export SYNTHDATA_HOME=$home

ui=
stop_ui() {
    [ -n "$ui" ] || return 0
    kill -TERM -- "-$ui" 2>/dev/null
    for _ in $(seq 40); do kill -0 -- "-$ui" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$ui" 2>/dev/null
    wait "$ui" 2>/dev/null
    ui=
}
tests=
stop_tests() {  # pytest and the browser it drives: SIGINT first, so the browser is quit by its fixture
    [ -n "$tests" ] || return 0
    kill -INT -- "-$tests" 2>/dev/null
    for _ in $(seq 20); do kill -0 -- "-$tests" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$tests" 2>/dev/null
    wait "$tests" 2>/dev/null
    tests=
}
status=1
finish() {
    stop_tests
    stop_ui
    if [ "$status" -eq 0 ]; then rm -rf "$home"; else echo "e2e: failed (status $status); the home is kept: $home"; fi
    echo "e2e: screenshots in $out/screenshots, the UI's log in $out/dagster.log"
}
trap finish EXIT
trap 'status=130; exit 130' INT TERM

"$PY" tests/e2e/ui_home.py "$home" >/dev/null || { status=2; exit 2; }
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dagster_home=$("$PY" -m synthdata.home) || { status=2; exit 2; }  # writes dagster.yaml as the CLI and `make ui` do
DAGSTER_HOME=$dagster_home .venv/bin/dagster dev -h 127.0.0.1 -p "$port" -m pipelines.definitions \
    >"$out/dagster.log" 2>&1 &
ui=$!
url=http://127.0.0.1:$port
echo "e2e: Dagster UI (process group $ui) at $url over $home"
for _ in $(seq 240); do
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/server_info", timeout=2)' "$url" \
        2>/dev/null && break
    if ! kill -0 "$ui" 2>/dev/null; then
        echo "e2e: the Dagster UI exited while starting:"; tail -20 "$out/dagster.log"; status=2; exit 2
    fi
    sleep 1
done

# In the background and waited for, so that a signal to this script (Ctrl-C, a CI time-out) is handled at once.
SYNTHDATA_E2E_URL=$url SYNTHDATA_E2E_SHOTS=$PWD/$out/screenshots \
    .venv/bin/pytest -m e2e tests/e2e -q -s -p no:cacheprovider </dev/null &
tests=$!
wait "$tests"
status=$?
tests=
exit "$status"
