#!/usr/bin/env bash
# Every test of the workspace: unit, integration (real sanode processes on loopback, moto_server
# for AWS), and the chaos tests. Extra arguments go to the test runner (e.g. a filter).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/deploy/local/bootstrap.sh"
source "$root/deploy/local/env.sh"
cd "$root"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
