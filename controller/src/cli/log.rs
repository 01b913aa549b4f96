//! Operational logs on stderr (stdout is the access log's): human text by default, one JSON
//! object per line with `--log-format json` (for Loki, Elasticsearch, Cloud Logging), each
//! message with its level and fields, and the span it happened in (a reconcile, a snapshot
//! apply).

use clap::ValueEnum;
use tracing::Level;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `2026-12-02T10:00:00.000000Z  INFO message field=value`.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `span`.
    Json,
}

/// The least severe level written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Also what the process is doing (the default).
    #[default]
    Info,
    /// Also details for debugging.
    Debug,
}

impl From<LogLevel> for Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => Level::ERROR,
            LogLevel::Warn => Level::WARN,
            LogLevel::Info => Level::INFO,
            LogLevel::Debug => Level::DEBUG,
        }
    }
}

/// Installs the process's log writer. A second call (tests) leaves the first in place.
pub fn init(format: LogFormat, level: LogLevel) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(Level::from(level))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
