use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, ConnectError, NoCredentials, NodeUnreachable, exit};

mod cli;

// glibc malloc was a quarter of classification time; mimalloc roughly halves that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sactl: {e:#}");
            let unreachable = e.downcast_ref::<NodeUnreachable>().is_some()
                || matches!(
                    e.downcast_ref::<ConnectError>(),
                    Some(ConnectError::Unreachable(_) | ConnectError::NoCredentials(_))
                )
                || e.downcast_ref::<NoCredentials>().is_some();
            if unreachable {
                ExitCode::from(exit::UNREACHABLE)
            } else {
                ExitCode::from(exit::FAILED)
            }
        }
    }
}

/// Output piped into `head` and the like: `println!` panics once the reader has gone. End
/// quietly instead, with the status a SIGPIPE death gives, as Unix tools do. SIGPIPE itself
/// stays ignored: gRPC writes its sockets with writev, which would raise it, and a push cut
/// short must report its error rather than die silently.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(128 + 13);
        }
        default(info);
    }));
}
