#!/usr/bin/env bash
# The main job, in one command: build Pledge, check the Chinook music store's declaration,
# then start the server on a private copy of the Chinook database with a fresh store, and
# print the URL and an admin API key to try every kind of rights request with.
# Needs only the Rust toolchain (cargo). Extra arguments go to `pledge serve`
# (e.g. --listen 127.0.0.1:9090). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p pledge
pledge=target/release/pledge
echo "== pledge check examples/chinook"
"$pledge" check examples/chinook
echo
echo "== pledge serve --demo"
exec "$pledge" serve --demo "$@"
