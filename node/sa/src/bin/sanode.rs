use clap::Parser;
use sa::node::NodeArgs;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = NodeArgs::parse();
    if let Err(e) = sa::logging::init(&args.log_level, args.log_format) {
        eprintln!("sanode: {e:#}");
        return std::process::ExitCode::from(2);
    }
    match sa::node::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "node failed");
            eprintln!("sanode: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
