//! Running trials as external commands: any program in any language is a trial. It gets its
//! parameters on the command line and in the environment, reports metrics as JSON lines on
//! stdout, and is stopped (SIGTERM, then SIGKILL) when pruned, timed out or interrupted.

pub mod command;
pub mod metrics;
pub mod template;

pub use command::{CommandRunner, RunOptions};
pub use metrics::{MetricLine, parse_metric_line};
pub use template::Template;
