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
        return match sa_repository::check_repository(dir) {
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
    match runtime.block_on(sa_node::node::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "node failed");
            eprintln!("sanode: {e:#}");
            ExitCode::FAILURE
        }
    }
}
