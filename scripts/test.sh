#!/usr/bin/env bash
# Run the whole test suite: the one command the README points to.
#
#   scripts/test.sh
#
# 1. provisions the real services (scripts/test-env.sh; skipped when the
#    caller already did it and set CAAS_TEST_ENV_READY=1, as .ci/run does),
# 2. cargo fmt --check, clippy with warnings denied, rustdoc with warnings
#    denied,
# 3. cargo test --workspace --no-fail-fast (every binary runs, so one failure
#    does not hide the next) with /var/tmp/caas-test-env/env sourced.
#
# The tests run last so that cargo test's result lines (and the summary line
# printed after them) close the output.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENV_FILE=/var/tmp/caas-test-env/env

step() { echo "[test] $*"; }

# A CI shell may not have rustup's bin directory on PATH.
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if [[ "${CAAS_TEST_ENV_READY:-}" != 1 ]]; then
    step "provisioning: scripts/test-env.sh"
    bash scripts/test-env.sh
fi
[[ -f "$ENV_FILE" ]] || {
    echo "[test] ERROR: $ENV_FILE missing; run scripts/test-env.sh" >&2
    exit 1
}
# shellcheck source=/dev/null
source "$ENV_FILE"

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --workspace --no-deps (RUSTDOCFLAGS=-Dwarnings)"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

step "cargo test --workspace"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One plain total over all test binaries and doc-tests.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed;?$/) p += $(i - 1)
            if ($(i) ~ /^failed;?$/) f += $(i - 1)
            if ($(i) ~ /^ignored;?$/) s += $(i - 1)
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$rc"
