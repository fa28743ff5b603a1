//! What sa ships besides its binaries, as far as this machine can take it (docs/operations.md):
//!
//! - the Debian package, built by deploy/debian/build.py from this build's binaries and
//!   node/sanode/Cargo.toml's [package.metadata.deb], unpacked and checked file by file, then
//!   installed with dpkg into a scratch root, run there as its systemd unit would run it, and
//!   removed and purged;
//! - the systemd unit, through `systemd-analyze verify` and `security --offline`;
//! - the container image's files: its Containerfile and its healthcheck against a real node
//!   (building the image needs podman or docker, which this machine lacks);
//! - the man-style `--help` of both binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sa_chaos_tests::{NodeOptions, NodeProcess, free_loopback_port, repository_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8(run(command).stdout).unwrap()
}

/// The package built from the binaries this test runs (debug, stripped by build.py), in `dir`.
fn build_package(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(crate::SANODE, bin.join("sanode")).unwrap();
    std::os::unix::fs::symlink(crate::sactl(), bin.join("sactl")).unwrap();
    let out = stdout(
        Command::new("/usr/bin/python3")
            .arg(repository_root().join("deploy/debian/build.py"))
            .arg("--bin-dir")
            .arg(&bin)
            .arg("--out")
            .arg(dir)
            // xz, the release default, takes a minute over debug binaries.
            .args(["--compression", "zstd"]),
    );
    let deb = PathBuf::from(out.trim());
    assert!(
        deb.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("sa_{VERSION}-1_")),
        "{}",
        deb.display()
    );
    deb
}

/// Every file under `dir`, by its path below it, except what running Python and git leave.
fn files_below(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap();
            if name == "__pycache__" || name == ".gitignore" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                let below = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(below, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The `KEY=value` settings deploy/systemd/sanode.env makes (its lines not commented out).
fn env_file_settings() -> BTreeMap<String, String> {
    std::fs::read_to_string(repository_root().join("deploy/systemd/sanode.env"))
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The values of `key=` in the unit file.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_package_holds_the_binaries_the_shipped_repository_the_env_file_and_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let repo = repository_root();

    let field = |name: &str| stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "sa");
    assert_eq!(field("Version").trim(), format!("{VERSION}-1"));
    let depends = field("Depends");
    for needed in [
        "libc6",
        "libpython3",
        "adduser",
        "ca-certificates",
        "python3",
    ] {
        assert!(depends.contains(needed), "Depends: {depends}");
    }

    // Owners and modes, as dpkg will install them.
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (fields[0], fields[1], fields[5]);
        assert_eq!(owner, "root/root", "{line}");
        let expected = match path {
            _ if mode.starts_with('d') => "drwxr-xr-x",
            "./usr/bin/sanode" | "./usr/bin/sactl" => "-rwxr-xr-x",
            // It may hold a join token; systemd reads it as root.
            "./etc/sa/sanode.env" => "-rw-------",
            _ => "-rw-r--r--",
        };
        assert_eq!(mode, expected, "{line}");
    }

    let root = dir.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    // The shipped repository, every file of it and nothing else.
    for tree in ["conf", "rules"] {
        let shipped = files_below(&repo.join(tree));
        let installed = files_below(&root.join("usr/share/sa").join(tree));
        assert_eq!(
            installed.keys().collect::<Vec<_>>(),
            shipped.keys().collect::<Vec<_>>(),
            "/usr/share/sa/{tree}: a new kind of file in {tree}/ needs an asset in node/sanode/Cargo.toml"
        );
        assert!(
            installed == shipped,
            "/usr/share/sa/{tree} differs from {tree}/"
        );
    }
    let same = |installed: &str, source: &str| {
        assert_eq!(
            std::fs::read(root.join(installed)).unwrap(),
            std::fs::read(repo.join(source)).unwrap(),
            "{installed} is {source}"
        );
    };
    same("etc/sa/sanode.env", "deploy/systemd/sanode.env");
    same(
        "usr/lib/systemd/system/sanode.service",
        "deploy/systemd/sanode.service",
    );
    same("usr/share/doc/sa/operations.md", "docs/operations.md");
    for (binary, expected) in [("sanode", "sanode"), ("sactl", "sactl")] {
        let version = stdout(Command::new(root.join("usr/bin").join(binary)).arg("--version"));
        assert_eq!(version.trim(), format!("{expected} {VERSION}"));
    }

    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/sa/sanode.env\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        assert_eq!(
            std::fs::read(control.join(script)).unwrap(),
            std::fs::read(repo.join("deploy/debian").join(script)).unwrap(),
            "{script}"
        );
    }

    // The env file, the unit and the package agree on where things are.
    let settings = env_file_settings();
    let unit = std::fs::read_to_string(repo.join("deploy/systemd/sanode.service")).unwrap();
    assert_eq!(
        unit_values(&unit, "ReadWritePaths"),
        [settings["SA_DATA_DIR"].clone()]
    );
    assert_eq!(
        unit_values(&unit, "WorkingDirectory"),
        [settings["SA_DATA_DIR"].clone()]
    );
    assert_eq!(
        unit_values(&unit, "EnvironmentFile"),
        ["-/etc/sa/sanode.env"]
    );
    assert_eq!(unit_values(&unit, "ExecStart"), ["/usr/bin/sanode"]);
    for dir_setting in ["SA_CONFIG_DIR", "SA_RULES_DIR"] {
        let installed = root.join(settings[dir_setting].trim_start_matches('/'));
        assert!(installed.is_dir(), "{dir_setting}: {}", installed.display());
    }
}

/// Runs the package's whole life in a private mount namespace whose /usr, /etc and /var are
/// overlays over the host's, their writes landing in `$out`: dpkg -i (the postinst makes the
/// sa user and /var/lib/sa), the installed unit verified, a node run as the unit runs it, a
/// reinstall that keeps an edited conffile, dpkg -r, dpkg -P. /run is emptied, so the
/// maintainer scripts see no systemd, as in a container build, and the host's services are
/// left alone. Each step's result goes to a file of `$out`.
const SCRATCH_INSTALL: &str = r#"
set -euo pipefail
deb=$1 out=$2 healthcheck=$3 grpc=$4 http=$5
for dir in usr etc var; do
    mkdir -p "$out/$dir.upper" "$out/$dir.work"
    mount -t overlay overlay \
        -o "lowerdir=/$dir,upperdir=$out/$dir.upper,workdir=$out/$dir.work" "/$dir"
done
mount -t tmpfs tmpfs /run

dpkg -i "$deb" > "$out/install.log" 2>&1
getent passwd sa > "$out/passwd"
stat -c '%U:%G %a %n' /var/lib/sa /etc/sa/sanode.env /usr/bin/sanode > "$out/modes"
if systemd-analyze verify sanode.service > "$out/verify.log" 2>&1; then
    echo ok > "$out/verify"
else
    echo "failed: $?" > "$out/verify"
fi

# As sanode.service runs it: the env file read as root, then the sa user, in /var/lib/sa.
settings=$(grep -v '^#' /etc/sa/sanode.env | grep '=')
cd /var/lib/sa
env -i PATH=/usr/bin:/bin HOME=/var/lib/sa $settings \
    SA_GRPC_ADDR="127.0.0.1:$grpc" SA_HTTP_ADDR="127.0.0.1:$http" \
    setpriv --reuid=sa --regid=sa --init-groups /usr/bin/sanode > "$out/node.log" 2>&1 &
node=$!
trap 'kill -KILL $node 2>/dev/null || true' EXIT
probe() { SA_HTTP_ADDR="127.0.0.1:$http" /usr/bin/python3 "$healthcheck"; }
healthy=no
for _ in $(seq 900); do
    if probe 2>/dev/null; then healthy=yes; break; fi
    kill -0 $node 2>/dev/null || break
    sleep 0.1
done
echo $healthy > "$out/healthy"
stat -c '%U:%G %n' /var/lib/sa/node_id /var/lib/sa/certs/node.key > "$out/node-files" 2>&1 || true
kill -TERM $node
if wait $node; then echo 0 > "$out/node-exit"; else echo $? > "$out/node-exit"; fi
if probe 2> "$out/probe-after-stop.log"; then echo 0 > "$out/probe-after-stop"; else echo $? > "$out/probe-after-stop"; fi
cd /

echo 'SA_LOG_LEVEL=debug' >> /etc/sa/sanode.env
dpkg -i "$deb" > "$out/reinstall.log" 2>&1
grep -c '^SA_LOG_LEVEL=debug$' /etc/sa/sanode.env > "$out/kept-change"

dpkg -r sa > "$out/remove.log" 2>&1
for f in /usr/bin/sanode /usr/bin/sactl /usr/share/sa /usr/lib/systemd/system/sanode.service \
         /etc/sa/sanode.env /var/lib/sa/node_id; do
    if [ -e "$f" ]; then echo "$f"; fi
done > "$out/after-remove"
dpkg -P sa > "$out/purge.log" 2>&1
for f in /etc/sa /var/lib/sa/node_id; do
    if [ -e "$f" ]; then echo "$f"; fi
done > "$out/after-purge"
getent passwd sa > "$out/passwd-after-purge" || true
"#;

#[test]
fn the_package_installs_runs_and_purges_in_a_scratch_root() {
    // SAFETY: geteuid only reads the process's credentials.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "installing into a scratch root takes a mount namespace and overlays: run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let out = dir.path().join("scratch");
    std::fs::create_dir_all(&out).unwrap();
    let result = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            SCRATCH_INSTALL,
            "bash",
        ])
        .arg(&deb)
        .arg(&out)
        .arg(repository_root().join("deploy/container/healthcheck.py"))
        .arg(free_loopback_port().to_string())
        .arg(free_loopback_port().to_string())
        .output()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let logs = || {
        [
            "install.log",
            "verify.log",
            "node.log",
            "probe-after-stop.log",
            "reinstall.log",
            "remove.log",
            "purge.log",
        ]
        .map(|name| format!("== {name}\n{}", read(name)))
        .join("\n")
    };
    assert!(
        result.status.success(),
        "{}\n{}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr),
        logs()
    );

    // The postinst's user and data dir.
    let passwd = read("passwd");
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields[0], "sa", "{passwd}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "a system user: {passwd}");
    assert_eq!(
        &fields[5..],
        ["/var/lib/sa", "/usr/sbin/nologin"],
        "{passwd}"
    );
    assert_eq!(
        read("modes"),
        "sa:sa 750 /var/lib/sa\nroot:root 600 /etc/sa/sanode.env\nroot:root 755 /usr/bin/sanode\n"
    );
    assert_eq!(read("verify").trim(), "ok", "{}", read("verify.log"));
    assert_unit_warnings_known(&read("verify.log"));

    // The installed node serves as the sa user, on the package's conf/ and rules/, and writes
    // its data dir; the container's healthcheck sees it healthy, then not once it stopped.
    assert_eq!(read("healthy").trim(), "yes", "{}", logs());
    assert_eq!(
        read("node-files"),
        "sa:sa /var/lib/sa/node_id\nsa:sa /var/lib/sa/certs/node.key\n"
    );
    assert_eq!(read("node-exit").trim(), "0", "{}", logs());
    assert_eq!(read("probe-after-stop").trim(), "1", "{}", logs());

    assert_eq!(
        read("kept-change").trim(),
        "1",
        "an edited conffile survives a reinstall"
    );
    // Removed: the files, not the settings nor the data. Purged: the settings too.
    assert_eq!(
        read("after-remove"),
        "/etc/sa/sanode.env\n/var/lib/sa/node_id\n"
    );
    assert_eq!(read("after-purge"), "/var/lib/sa/node_id\n");
    assert_eq!(read("passwd-after-purge"), passwd);
}

/// `systemd-analyze verify`'s complaints about the unit, beyond which a test fails: none, but
/// for systemd before 254 (Debian 12's 252) the two keys of the restart backoff it predates.
fn assert_unit_warnings_known(verify_output: &str) {
    let version = stdout(Command::new("systemd-analyze").arg("--version"));
    let version: u32 = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("systemd-analyze --version: {version}"));
    let known = |line: &str| {
        version < 254
            && (line.contains("Unknown key 'RestartSteps'")
                || line.contains("Unknown key 'RestartMaxDelaySec'"))
    };
    let unknown: Vec<&str> = verify_output
        .lines()
        .filter(|line| !line.trim().is_empty() && !known(line))
        .collect();
    assert!(unknown.is_empty(), "systemd-analyze verify: {unknown:#?}");
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let unit =
        std::fs::read_to_string(repository_root().join("deploy/systemd/sanode.service")).unwrap();
    for (key, value) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("User", "sa"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/sa"),
        ("PrivateTmp", "yes"),
        // Empty: no capability at all.
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(unit_values(&unit, key), [value], "{key}=");
    }
    for key in ["WatchdogSec", "LimitNOFILE", "RestartSec"] {
        assert_eq!(unit_values(&unit, key).len(), 1, "{key}= is set");
    }

    // verify checks that ExecStart's binary exists: point it at this build's.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sanode.service");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/bin/sanode",
            &format!("ExecStart={}", crate::SANODE),
        ),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "{said}");
    assert_unit_warnings_known(&said);

    // systemd's own rating of the sandbox: 9.6 ("UNSAFE") for a unit without one.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| line.split("sanode.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|score| score.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(exposure <= 3.5, "exposure {exposure}:\n{report}");
}

#[test]
fn the_container_image_installs_the_package_and_probes_healthz() {
    let repo = repository_root();
    let file = std::fs::read_to_string(repo.join("deploy/container/Containerfile")).unwrap();
    // Instructions, continuation lines joined.
    let instructions: Vec<String> = file
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, line)| line.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let (build, runtime) = (
        &instructions[stages[0]..stages[1]],
        &instructions[stages[1]..],
    );
    assert!(build[0].ends_with("-${DEBIAN} AS build"), "{}", build[0]);
    assert_eq!(runtime[0], "FROM docker.io/library/debian:${DEBIAN}-slim");
    assert!(
        build
            .iter()
            .any(|line| line.starts_with("RUN ") && line.contains("deploy/debian/build.py")),
        "the build stage makes the package: {build:#?}"
    );
    assert!(
        runtime.iter().any(|line| line.starts_with("RUN ")
            && line.contains("apt-get install")
            && line.contains("/tmp/sa/sa_*.deb")),
        "the runtime stage installs the package as a machine would: {runtime:#?}"
    );
    let has = |instruction: &str| runtime.iter().any(|line| line == instruction);
    assert!(has("USER sa"), "{runtime:#?}");
    assert!(has("VOLUME /var/lib/sa"), "{runtime:#?}");
    assert!(has("ENTRYPOINT [\"/usr/bin/sanode\"]"), "{runtime:#?}");
    assert!(
        has("COPY deploy/container/healthcheck.py /usr/local/lib/sa/healthcheck.py"),
        "{runtime:#?}"
    );
    assert!(
        runtime.iter().any(|line| line.starts_with("HEALTHCHECK ")
            && line.ends_with("CMD [\"python3\", \"/usr/local/lib/sa/healthcheck.py\"]")),
        "{runtime:#?}"
    );
    // The image sets what the env file sets for the systemd unit.
    let env = runtime
        .iter()
        .find(|line| line.starts_with("ENV "))
        .expect("ENV");
    for (key, value) in env_file_settings() {
        assert!(
            env.split_whitespace()
                .any(|kv| kv == format!("{key}={value}")),
            "ENV lacks {key}={value}: {env}"
        );
    }

    // Its healthcheck, against a real node: over TLS as the node serves, refused in plaintext,
    // failing once the node has stopped.
    let dir = tempfile::tempdir().unwrap();
    let node =
        NodeProcess::start(&NodeOptions::new(crate::SANODE, dir.path().join("data"))).unwrap();
    let probe = |insecure: &str| {
        let output = Command::new("/usr/bin/python3")
            .arg(repo.join("deploy/container/healthcheck.py"))
            .env("SA_HTTP_ADDR", node.http_addr.to_string())
            .env("SA_INSECURE", insecure)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(probe("false"), (Some(0), String::new()));
    assert_eq!(probe("true").0, Some(1), "plaintext to a TLS node");
    let http_addr = node.http_addr;
    node.terminate_cleanly(Duration::from_secs(30)).unwrap();
    let stopped = Command::new("/usr/bin/python3")
        .arg(repo.join("deploy/container/healthcheck.py"))
        .env("SA_HTTP_ADDR", http_addr.to_string())
        .output()
        .unwrap();
    assert_eq!(stopped.status.code(), Some(1));
    let said = String::from_utf8_lossy(&stopped.stderr);
    assert!(said.contains("/healthz"), "{said}");
}

/// The section headings of a help text, in order.
fn sections(help: &str) -> Vec<&str> {
    help.lines()
        .filter(|line| {
            line.starts_with(|c: char| c.is_ascii_uppercase())
                && line.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
        })
        .collect()
}

#[test]
fn help_reads_like_a_man_page() {
    let sanode = stdout(Command::new(crate::SANODE).arg("--help"));
    assert_eq!(
        sections(&sanode),
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "ENVIRONMENT",
            "FILES",
            "EXIT STATUS",
            "SEE ALSO"
        ]
    );
    assert!(sanode.contains("    sanode - "), "{sanode}");
    assert!(sanode.contains("/etc/sa/sanode.env"), "{sanode}");
    // Every option's variable is listed beside it.
    for line in std::fs::read_to_string(repository_root().join("deploy/systemd/sanode.env"))
        .unwrap()
        .lines()
    {
        let name = line.trim_start_matches('#').split('=').next().unwrap();
        if name.starts_with("SA_") && name != "SA_AWS_ENDPOINT" {
            assert!(
                sanode.contains(&format!("[env: {name}=]")),
                "{name} in sanode --help"
            );
        }
    }
    // The short form keeps the options and points to the rest.
    let short = stdout(Command::new(crate::SANODE).arg("-h"));
    assert!(short.lines().count() < sanode.lines().count() / 2);
    assert!(
        short
            .trim_end()
            .ends_with("ENVIRONMENT, FILES and EXIT STATUS: sanode --help"),
        "{short}"
    );
    // EXIT STATUS says 2 for a wrong command line.
    let wrong = Command::new(crate::SANODE)
        .arg("--no-such-option")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));

    let sactl = stdout(Command::new(crate::sactl()).arg("--help"));
    assert_eq!(
        sections(&sactl),
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "COMMANDS",
            "OPTIONS",
            "ENVIRONMENT",
            "FILES",
            "EXIT STATUS",
            "SEE ALSO"
        ]
    );
    for name in [
        "SA_NODE",
        "SA_CERTS_DIR",
        "SA_CERT",
        "SA_KEY",
        "SA_INSECURE",
    ] {
        assert!(sactl.contains(&format!("[env: {name}=]")), "{name}");
    }
    // Commands keep clap's layout, which scripts and people already know.
    let status = stdout(Command::new(crate::sactl()).args(["status", "--help"]));
    assert!(status.contains("Usage: sactl status"), "{status}");
    assert!(!status.contains("NAME"), "{status}");
}
