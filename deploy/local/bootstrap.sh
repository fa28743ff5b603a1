#!/usr/bin/env bash
# Brings a fresh Debian machine to a state that builds and tests sa. Idempotent; silent when
# everything is already present.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"

say() { echo "bootstrap: $*" >&2; }

# C/C++ toolchain and libclang for RocksDB's bindgen; Debian's python3 with its headers and
# shared library for pyo3 (.cargo/config.toml points PYO3_PYTHON at /usr/bin/python3);
# python3-venv for the test tools below; curl, which the README's ingest example and the test of
# the start summary's commands (node/sanode/tests/it/first_start.rs) run. The packaging tests
# (node/sanode/tests/it/packaging.rs) build the Debian package (dpkg-dev's dpkg-shlibdeps),
# install it (it depends on adduser and ca-certificates) and check the systemd unit
# (systemd-analyze): a Debian machine has them already, a container image may not.
packages=(build-essential pkg-config libclang-dev python3 python3-dev python3-venv curl
    dpkg-dev adduser ca-certificates systemd)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    say "cargo not found: install Rust 1.94 or newer (rustup) and run this again"
    exit 1
fi

# moto's server stands in for AWS in tests (Kinesis, S3, DynamoDB, SNS, SQS, ...). It lives in a
# venv of Debian's python3 so it never touches the interpreter the rules run in.
if [ ! -x "$SA_TOOLS_VENV/bin/moto_server" ]; then
    say "installing moto[server] into $SA_TOOLS_VENV"
    /usr/bin/python3 -m venv "$SA_TOOLS_VENV"
    "$SA_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5.1,<6'
fi

# Python jmespath 0.10, the version StreamAlert's JMESPath semantics follow (docs/spec §5.2): the
# oracle of sa-engine's differential JMESPath test. Its own directory, so moto's pin never moves it.
if [ ! -f "$SA_PY_JMESPATH/jmespath/__init__.py" ]; then
    say "installing jmespath 0.10.0 into $SA_PY_JMESPATH"
    "$SA_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check --target "$SA_PY_JMESPATH" 'jmespath==0.10.0'
fi
