//! Finding the workspace's binaries from inside a test.

use std::path::{Path, PathBuf};

/// Path of a binary built by this workspace (`sanode`, `sactl`) in the running executable's
/// profile directory. Tests of the `sa-node` package pass `env!("CARGO_BIN_EXE_…")` instead.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let exe_dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("unexpected binary location {}", exe.display()))?;
    // Tests run from `<profile>/deps/`, binaries of this crate from `<profile>/`.
    let profile_dir = if exe_dir.ends_with("deps") {
        exe_dir.parent().unwrap_or(exe_dir)
    } else {
        exe_dir
    };
    let binary = profile_dir.join(name);
    if binary.is_file() {
        Ok(binary)
    } else {
        anyhow::bail!(
            "{} not found: build it first (`cargo build -p sa-node -p sactl`, or run the whole workspace's tests)",
            binary.display()
        )
    }
}

/// This workspace's root: the repository whose shipped conf/ and rules/ test nodes run.
///
/// Found from the package under test, which cargo names at run time, rather than from where this
/// crate was compiled: cargo reuses artifacts across checkouts at different paths that share a
/// target dir, so the compile-time path can be another (even deleted) clone.
pub fn repository_root() -> PathBuf {
    let compiled_in = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|package| {
            package
                .ancestors()
                .find(|dir| dir.join("chaos-tests").is_dir() && dir.join("conf").is_dir())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| {
            compiled_in
                .parent()
                .expect("chaos-tests lives in the workspace root")
                .to_path_buf()
        })
}
