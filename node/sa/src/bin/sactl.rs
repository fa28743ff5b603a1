use std::process::ExitCode;

use clap::Parser;
use sa::cli::{Cli, NodeUnreachable, exit};

// glibc malloc was a quarter of classification time; mimalloc roughly halves that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match sa::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sactl: {e:#}");
            if e.downcast_ref::<NodeUnreachable>().is_some() {
                ExitCode::from(exit::UNREACHABLE)
            } else {
                ExitCode::from(exit::FAILED)
            }
        }
    }
}
