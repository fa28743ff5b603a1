//! Alert-as-code: user rules run in one embedded CPython interpreter per process (docs/spec §9).
//!
//! [`RulesEngine`] loads a StreamAlert repository's rules, matchers and publishers with sa's
//! `streamalert.*` shim modules and evaluates batches of classified records into [`Alert`]s;
//! [`RulesWorker`] runs it on a dedicated thread that other threads send batches to.

mod alert;
pub mod alert_merge;
pub mod bench;
mod clock;
mod convert;
mod engine;
mod error;
mod evaluation;
mod interpreter;
pub mod lookup;
mod native;
mod output_name;
mod python_error;
mod record_dict;
mod repository;
mod rule_catalog;
mod shim;
pub mod test_runner;
pub mod threat_intel;
mod worker;

pub use alert::{
    Alert, AlertPolicy, FIREHOSE_OUTPUT, StoredAlertError, StoredAlertProblem, alert_id_for,
    new_alert_id,
};
pub use clock::{Clock, Micros, format_timestamp, parse_timestamp};
pub use engine::{
    BatchOutcome, EngineOptions, LoadError, RuleFailure, RuleStates, RuleTable, RuleTiming,
    RulesEngine,
};
pub use error::RulesError;
pub use evaluation::Evaluation;
pub use interpreter::{
    InterpreterError, InterpreterInfo, PythonEnv, interpreter_info, prepare as prepare_interpreter,
};
pub use output_name::{OutputName, OutputNameError};
pub use repository::{LayoutError, LayoutProblem, RepositoryLayout};
pub use rule_catalog::{LogsFilter, RecordView, RuleCatalog, RuleInfo};
pub use worker::{Plugs, Publication, RulesHandle, RulesWorker};
