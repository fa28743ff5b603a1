//! Validating a config bundle before the cluster accepts it. Loading rules needs a Python
//! interpreter of its own (one per process, and this node's runs the active rules), so the
//! check runs in a child process: this same executable with `--check-repository DIR`. Rules
//! are code, so the child runs under limits of CPU time, memory and wall-clock time, and a
//! bundle that hits one is refused naming it (docs/security.md).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use sa_repository::bundle::ConfigBundle;
use sa_repository::{RepositorySummary, SUMMARY_MARKER};
use sa_rules::PythonEnv;

/// What one bundle check may use.
#[derive(Debug, Clone, Copy)]
pub struct CheckLimits {
    pub cpu: Duration,
    pub memory_bytes: u64,
    pub wall: Duration,
}

/// Checks `bundle` in a child process that imports its rules with `python_env`, the
/// environment this node runs rules with.
pub async fn validate(
    data_dir: &Path,
    bundle: &ConfigBundle,
    limits: CheckLimits,
    python_env: &PythonEnv,
) -> anyhow::Result<RepositorySummary> {
    let scratch = data_dir.join("tmp");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("bundle-check-")
        .tempdir_in(&scratch)?;
    bundle.materialize(dir.path())?;
    let exe = std::env::current_exe().context("cannot find the sanode executable")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--check-repository")
        .arg(dir.path())
        .kill_on_drop(true);
    // The child takes nothing of the node's configuration from the environment: its flags
    // would be parsed with them (and fail on ones that need others), and the rules it imports
    // must not read the node's secrets (a join token).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SA_") {
            command.env_remove(key);
        }
    }
    match &python_env.dir {
        Some(env) => command.arg("--python-env").arg(env),
        // Not the node's $VIRTUAL_ENV either: the node resolved it already, to nothing.
        None => command.env_remove("VIRTUAL_ENV"),
    };
    let (cpu_seconds, memory_bytes) = (limits.cpu.as_secs().max(1), limits.memory_bytes);
    // SAFETY: between fork and exec the closure only calls setrlimit, which is async-signal-safe,
    // on values computed before the fork.
    unsafe {
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)?;
            set_limit(libc::RLIMIT_DATA, memory_bytes, memory_bytes)
        });
    }
    let output = match tokio::time::timeout(limits.wall, command.output()).await {
        Ok(output) => output.context("cannot run the bundle check")?,
        // Dropping the future kills the child (kill_on_drop).
        Err(_) => bail!(
            "the bundle check ran past its wall-clock limit of {} (--bundle-check-timeout): \
             does a rule module wait or loop when it is imported?",
            humantime::format_duration(limits.wall)
        ),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Paths inside the scratch copy mean nothing to the user: show them repository-relative.
        let prefix = format!("{}/", dir.path().display());
        let stderr = stderr.replace(&prefix, "");
        if let Some(limit) = limit_hit(output.status, &stderr, limits) {
            bail!("{limit}\n{}", stderr.trim_end());
        }
        bail!("{}", stderr.trim_end());
    }
    // A rule module may print while it is imported: the summary is on its marked line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(SUMMARY_MARKER))
        .with_context(|| format!("the bundle check printed no summary: {stdout}"))?;
    serde_json::from_str(summary)
        .with_context(|| format!("the bundle check printed an undecodable summary: {summary}"))
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a plain system call on a stack value.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Which limit a failed check ran into, if its end says so: the CPU limit ends it with SIGXCPU
/// (or SIGKILL at the hard limit); the memory limit makes Python raise MemoryError or an
/// allocation fail.
fn limit_hit(
    status: std::process::ExitStatus,
    stderr: &str,
    limits: CheckLimits,
) -> Option<String> {
    if matches!(status.signal(), Some(libc::SIGXCPU | libc::SIGKILL)) {
        return Some(format!(
            "the bundle check used up its CPU-time limit of {} s (--bundle-check-cpu): does a \
             rule module compute without end when it is imported?",
            limits.cpu.as_secs().max(1)
        ));
    }
    if stderr.contains("MemoryError") || stderr.contains("memory allocation of") {
        return Some(format!(
            "the bundle check ran into its memory limit of {} MiB (--bundle-check-memory-mib)",
            limits.memory_bytes >> 20
        ));
    }
    None
}
