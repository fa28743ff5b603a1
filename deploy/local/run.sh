#!/usr/bin/env bash
# The embedded default: one local node, RocksDB in ./data, the shipped conf/ and rules/.
# Extra arguments go to sanode (see `sanode --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/deploy/local/bootstrap.sh"
source "$root/deploy/local/env.sh"
cd "$root"
cargo build --release -p sa-node -p sactl
exec "$CARGO_TARGET_DIR/release/sanode" "$@"
