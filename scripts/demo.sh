#!/usr/bin/env bash
# The main job, in one command: build Pledge, check the Chinook music store's declaration,
# then start the server on a private copy of the Chinook database with a fresh store, and
# print the URL and an admin API key to try every kind of rights request with.
# Needs only the Rust toolchain (cargo). Extra arguments go to `pledge serve`
# (e.g. --listen 127.0.0.1:9090). Stop with Ctrl-C.
#
# Honours CARGO_TARGET_DIR (the binary is looked for there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "error: cargo not found: install Rust (https://rustup.rs) and run this again" >&2
    exit 1
}
command -v cargo >/dev/null || PATH="$HOME/.cargo/bin:$PATH"

target=${CARGO_TARGET_DIR:-target}
pledge="$target/release/pledge"
if [ -x "$pledge" ]; then
    echo "== building pledge (release; an incremental build takes seconds, or a few minutes after a change to the core)"
else
    echo "== building pledge (release): a first build compiles ~300 crates and takes"
    echo "   about 10-15 minutes on 2 cores; cargo's progress follows"
fi
started=$SECONDS
# Progress on the terminal (cargo shows its bar only there), errors always.
cargo build --release --locked -p pledge
echo "== built $pledge in $((SECONDS - started)) s"
echo
echo "== pledge check examples/chinook"
"$pledge" check examples/chinook
echo
echo "== pledge serve --demo"
exec "$pledge" serve --demo "$@"
