#!/usr/bin/env bash
# The main job, in one command: build Pledge and run it on an example declaration.
# Needs only the Rust toolchain (cargo). Until the server lands, the demo checks the
# declaration transcribed from a real policy, then the corrected one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p pledge
pledge=target/release/pledge
example=${1:-examples/spektr}
echo "== pledge check $example (a real policy, transcribed with its defects)"
"$pledge" check "$example" || true
if [ -d examples/spektr-corrected ]; then
    echo
    echo "== pledge check examples/spektr-corrected (the same company, fixed)"
    "$pledge" check examples/spektr-corrected
fi
