//! The log on stderr: text or JSON lines (`log.format`), the lines chosen by `RUST_LOG`.
//! Colour codes only when stderr is a terminal: journald and log files would show them
//! as `[2m...[0m` litter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the process-wide subscriber; call once, before anything logs. A second call
/// (a test that starts two nodes) leaves the first one in place.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
