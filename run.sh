#!/usr/bin/env bash
# Set everything up and run the app or the tests:   ./run.sh app   |   ./run.sh test
# Creates .venv, installs (torch only as the CPU wheel, and only for tests), ingests the
# bundled article when the index is missing or stale, then starts the app or runs pytest.
set -euo pipefail
cd "$(dirname "$0")"

what="${1:-app}"
shift || true
python="$(command -v python3.11 || command -v python3)"

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# Reinstall only when pyproject.toml changed since the last install of this flavour.
install() {
    local flavour="$1" stamp=".venv/.installed-$1"
    local digest
    digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
        if [ "$flavour" = test ]; then
            # The CPU wheel from this machine's disk; an unpinned torch would pull a CUDA build.
            "${pip[@]}" "torch==2.13.0"
            # llama-cpp-python compiles once (about 9 minutes); pip caches the wheel after that.
            # Built for any x86-64 CPU with AVX2, not tuned to this one: a native build used the
            # CPU's AMX instructions, which fault in this VM (a protection fault in libggml-cpu).
            CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "${pip[@]}" -e ".[test,llm]"
        else
            "${pip[@]}" -e .
        fi
        echo "$digest" > "$stamp"
    fi
}

# Debian packages, installed only when missing.
system_packages() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

case "$what" in
    app)
        install app
        .venv/bin/python ingest.py
        exec .venv/bin/python app.py "$@"
        ;;
    test)
        install test
        system_packages chromium fonts-noto-cjk  # the browser tests' real browser and CJK glyphs
        .venv/bin/python ingest.py
        exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./run.sh app|test" >&2
        exit 2
        ;;
esac
