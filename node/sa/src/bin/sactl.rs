use std::process::ExitCode;

use clap::Parser;
use sa::cli::{Cli, NodeUnreachable, exit};

// glibc malloc was a quarter of classification time; mimalloc roughly halves that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Output piped into `head` and the like: a closed pipe ends sactl quietly, as it does any
    // Unix tool, instead of a panic on the next line printed.
    // SAFETY: signal() only swaps the process's SIGPIPE disposition. Sockets are unaffected:
    // Rust's (and so tokio's) socket writes pass MSG_NOSIGNAL and get EPIPE as before.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
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
