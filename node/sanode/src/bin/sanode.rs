use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sa_node::node::NodeArgs;

// glibc malloc was a quarter of classification time; mimalloc roughly halves that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = NodeArgs::parse();
    if let Some(dir) = &args.check_repository {
        // Runs before any runtime or interpreter of the node exists: this process is the check.
        // The summary goes to stdout as JSON for the node that asked, on a line of its own
        // whatever the rules printed while imported.
        let env = sa_rules::PythonEnv::resolve(args.python_env.clone());
        return match sa_repository::check_repository(dir, &env) {
            Ok(summary) => match serde_json::to_string(&summary) {
                Ok(json) => {
                    println!("\n{}{json}", sa_repository::SUMMARY_MARKER);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = sa_node::logging::init(&args.log_level, args.log_format) {
        eprintln!("sanode: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sanode: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(sa_node::node::run(args)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "node failed");
            eprintln!("sanode: {e:#}");
            1
        }
    };
    // The tasks still holding the database or the interpreter end with the runtime.
    drop(runtime);
    exit_without_native_destructors(code)
}

/// Ends the process without C and C++ exit handlers. RocksDB and CPython own threads that can
/// outlive `main` (the rules thread, RocksDB's pools and timer, kept alive by the rules' lookup
/// source), and their static destructors running under those threads corrupted the heap at exit
/// twice in CI (`malloc_consolidate(): invalid chunk size`, SIGABRT after "node stopped").
/// Nothing is lost: the orderly shutdown before this has stopped Raft and RocksDB's background
/// work, and every write is in RocksDB's WAL, which the next start replays.
fn exit_without_native_destructors(code: i32) -> ExitCode {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; no Rust state is observed after it.
    unsafe { libc::_exit(code) }
}
