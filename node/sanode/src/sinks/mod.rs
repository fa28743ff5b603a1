//! Where alerts go on this node before (and beside) the dispatcher's outputs.

mod alert_log;

pub use alert_log::AlertLog;
