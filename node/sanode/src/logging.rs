//! Structured logs for both binaries: human-readable text or one JSON object per line.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `level` is a tracing filter (`info`, `sa=debug,warn`, ...);
/// an invalid filter is an error rather than a silent fallback.
pub fn init(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(directives(level))
        .map_err(|e| anyhow::anyhow!("invalid log level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in files or journald.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    Ok(())
}

/// `level` with quieter defaults for two chatty libraries, unless it names them:
/// - openraft reports every election step at info: warn;
/// - the AWS SDK warns at each credential provider it tries and fails (IMDS on a machine that is
///   not EC2, several times a call): error. sa reports its own AWS failures once, with the
///   stream, queue, table or output concerned and the SDK's error.
fn directives(level: &str) -> String {
    let mut directives = level.to_string();
    for (target, quieter) in [("openraft", "warn"), ("aws_config", "error")] {
        if !level.contains(target) {
            directives.push_str(&format!(",{target}={quieter}"));
        }
    }
    directives
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatty_libraries_are_quieter_unless_named() {
        assert_eq!(directives("info"), "info,openraft=warn,aws_config=error");
        assert_eq!(
            directives("info,aws_config=debug"),
            "info,aws_config=debug,openraft=warn"
        );
        assert!(EnvFilter::try_new(directives("sa=debug,warn")).is_ok());
    }
}
