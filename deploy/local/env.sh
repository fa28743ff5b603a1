# Sourced by the local scripts: where builds go and where the test tools live.
# One target dir outside the clone, shared by every checkout, session and CI run on this machine,
# so only the first build is cold.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${SA_TARGET_DIR:-$HOME/.cache/sa/target}}"
export SA_TOOLS_VENV="${SA_TOOLS_VENV:-$HOME/.cache/sa/venv}"
export SA_PY_JMESPATH="${SA_PY_JMESPATH:-$HOME/.cache/sa/jmespath-0.10.0}"
export PATH="$SA_TOOLS_VENV/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
