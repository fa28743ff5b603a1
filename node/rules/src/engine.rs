//! The rules engine (docs/spec §9.3–§9.11): a loaded repository evaluated over batches of
//! classified records, producing alerts (docs/spec §10).
//!
//! Rust pre-filters the rules of each record by log type and `req_subkeys`; a record crosses
//! into Python only when some rule remains, once, and all remaining rules run on that dict in
//! one call. Alerts are built from the hits afterwards (`evaluation`), off the Python thread
//! when the caller wants.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use sa_engine::ClassifiedRecord;
use serde_json::{Map, Value};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::convert::{from_python, object_from_python};
use crate::error::RulesError;
use crate::evaluation::{Evaluation, RuleError, RuleHit};
use crate::interpreter::{InterpreterError, PythonEnv, prepare};
use crate::python_error;
use crate::record_dict::RecordDicts;
use crate::repository::RepositoryLayout;
use crate::rule_catalog::{LogTypeRules, LogsFilter, RecordView, RuleCatalog, RuleInfo};
use crate::threat_intel::{IocStore, ThreatIntelConfig};

/// What the rule table says about the rules, by name: staged (docs/spec §9.11) and disabled (sa's own
/// switch, to silence a rule without pushing new code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStates {
    pub staged: BTreeSet<String>,
    pub disabled: BTreeSet<String>,
    /// Every rule the table has a row for. A loaded rule without one keeps the state it had:
    /// a push removes the rows of the rules it drops, and a node still running the previous
    /// config must not let such a rule out of staging, or back on, for the seconds its reload
    /// takes.
    pub listed: BTreeSet<String>,
}

/// The rule table (docs/spec §9.11); the node plugs its replicated table in.
pub trait RuleTable: Send + Sync {
    /// The current states. Returning the same `Arc` while nothing changed spares the rules
    /// thread from comparing them.
    fn states(&self) -> Arc<RuleStates>;

    /// The current states, read now whatever a cache holds: a repository just loaded must not
    /// run a rule its own push staged.
    fn fresh_states(&self) -> Arc<RuleStates> {
        self.states()
    }
}

/// How to run a repository's rules.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub env: PythonEnv,
    /// Test-runner behaviour: `rules.helpers.base.random_bool` always returns True (docs/spec
    /// §15.4), and publishers see the record with its normalization (§15.6).
    pub test_mode: bool,
    pub clock: Clock,
    /// Measure each rule's time (per-rule statistics; costs two clock reads per rule call).
    pub rule_timing: bool,
    /// Give rules whole records, even where sa's analysis of their source found the keys they
    /// can read (`RecordView`): the way back should that analysis ever be wrong.
    pub whole_records: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            env: PythonEnv::default(),
            test_mode: false,
            clock: Clock::System,
            rule_timing: false,
            whole_records: false,
        }
    }
}

/// Why a repository could not be loaded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error("{} file(s) of the repository failed to import:\n  {}", .0.len(), .0.join("\n  "))]
    Import(Vec<String>),
    #[error(
        "a repository is already loaded in this process (one interpreter per process); drop it first"
    )]
    Busy,
    #[error("python error while loading the repository: {0}")]
    Python(String),
}

/// A rule, matcher or dynamic-output function that raised (docs/spec §9.7: logged, counted, not fatal).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFailure {
    pub rule: String,
    /// `rule`, `matcher` or `dynamic output`.
    pub stage: String,
    /// `<file> line <n>: <Type>: <message>`.
    pub message: String,
    pub log_type: String,
    pub record: Map<String, Value>,
}

/// What one batch produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchOutcome {
    pub alerts: Vec<Alert>,
    pub failures: Vec<RuleFailure>,
    /// Records that were handed to Python (the others had no applicable rule).
    pub records_evaluated: usize,
    /// Rule calls made (candidates after the Rust pre-filter).
    pub rule_calls: usize,
}

/// Time spent in one rule across all records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTiming {
    pub calls: u64,
    pub total: Duration,
    pub max: Duration,
}

static LOADED: AtomicBool = AtomicBool::new(false);

/// A loaded repository. Only one exists per process at a time (one interpreter, one registry).
pub struct RulesEngine {
    catalog: RuleCatalog,
    evaluate: Py<PyAny>,
    runtime: Py<PyModule>,
    clock: Clock,
    threat_intel: Option<(ThreatIntelConfig, Arc<dyn IocStore>)>,
    rule_table: Option<Arc<dyn RuleTable>>,
    /// The table's states last applied, and what they mean for this repository.
    applied_states: Option<Arc<RuleStates>>,
    staged: BTreeSet<String>,
    /// By catalog index: the rule is disabled and never runs.
    disabled: Vec<bool>,
    rule_staging: bool,
    rule_timing: bool,
    dicts: RecordDicts,
    whole_records: bool,
    /// `EngineOptions::test_mode`: publishers compose as StreamAlert's test runner does.
    test_mode: bool,
}

impl std::fmt::Debug for RulesEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesEngine")
            .field("rules", &self.catalog.rules().len())
            .finish_non_exhaustive()
    }
}

impl RulesEngine {
    /// Imports the repository's matchers, rules and publishers (docs/spec §9.2) and reads the registry.
    pub fn load(layout: &RepositoryLayout, options: &EngineOptions) -> Result<Self, LoadError> {
        prepare(&options.env)?;
        if LOADED.swap(true, Ordering::SeqCst) {
            return Err(LoadError::Busy);
        }
        let loaded = Python::attach(|py| Self::load_with(py, layout, options));
        if loaded.is_err() {
            Python::attach(|py| {
                let _ = py
                    .import("_sa_runtime")
                    .and_then(|runtime| runtime.call_method0("reset"));
            });
            LOADED.store(false, Ordering::SeqCst);
        }
        loaded
    }

    fn load_with(
        py: Python<'_>,
        layout: &RepositoryLayout,
        options: &EngineOptions,
    ) -> Result<Self, LoadError> {
        let python_error = |error: PyErr| LoadError::Python(python_error::describe(py, &error));
        let runtime = py.import("_sa_runtime").map_err(python_error)?;
        let repository_error = runtime.getattr("RepositoryError").map_err(python_error)?;
        let to_load_error = |error: PyErr| {
            if error.is_instance(py, &repository_error) {
                match error
                    .value(py)
                    .getattr("args")
                    .and_then(|args| args.get_item(0))
                    .and_then(|v| v.extract())
                {
                    Ok(messages) => LoadError::Import(messages),
                    Err(e) => python_error(e),
                }
            } else {
                python_error(error)
            }
        };
        runtime
            .call_method1(
                "load_repository",
                (
                    layout.root.to_string_lossy().as_ref(),
                    layout.rule_dirs.clone(),
                    layout.matcher_dirs.clone(),
                    layout.publisher_dirs.clone(),
                    options.test_mode,
                ),
            )
            .map_err(to_load_error)?;
        runtime
            .call_method1("set_timing", (options.rule_timing,))
            .map_err(python_error)?;
        let catalog = runtime
            .call_method1("rule_catalog", (!options.whole_records,))
            .map_err(to_load_error)?;
        let rules = catalog
            .cast::<PyList>()
            .map_err(|e| LoadError::Python(e.to_string()))?
            .iter()
            .map(|entry| rule_info(&entry))
            .collect::<PyResult<Vec<_>>>()
            .map_err(python_error)?;
        let disabled = vec![false; rules.len()];
        Ok(RulesEngine {
            catalog: RuleCatalog::new(rules),
            evaluate: runtime.getattr("evaluate").map_err(python_error)?.unbind(),
            runtime: runtime.unbind(),
            clock: options.clock,
            threat_intel: None,
            rule_table: None,
            applied_states: None,
            staged: BTreeSet::new(),
            disabled,
            rule_staging: layout.rule_staging,
            rule_timing: options.rule_timing,
            whole_records: options.whole_records,
            test_mode: options.test_mode,
            dicts: RecordDicts::default(),
        })
    }

    pub fn rules(&self) -> &[RuleInfo] {
        self.catalog.rules()
    }

    /// Whether rules are timed one by one (`EngineOptions::rule_timing`).
    pub fn rule_timing(&self) -> bool {
        self.rule_timing
    }

    /// Switches views off (or back on) for the next batches: the test runner's record-key
    /// check.
    pub(crate) fn set_whole_records(&mut self, whole: bool) {
        self.whole_records = whole;
    }

    /// What the rules of `log_type` are given of its records.
    pub fn record_view(&mut self, log_type: &str) -> RecordView {
        chosen_view(self.whole_records, &self.catalog.for_log_type(log_type)).clone()
    }

    pub fn catalog(&self) -> &RuleCatalog {
        &self.catalog
    }

    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Enables threat-intel enrichment (docs/spec §9.9) against `store`.
    pub fn set_threat_intel(
        &mut self,
        threat_intel: Option<(ThreatIntelConfig, Arc<dyn IocStore>)>,
    ) {
        self.threat_intel = threat_intel;
    }

    /// Plugs the rule table in: disabled rules stop running and, when the repository enables
    /// staging, staged rules' alerts go only to the alerts Firehose (docs/spec §9.11).
    pub fn set_rule_table(&mut self, table: Option<Arc<dyn RuleTable>>) {
        self.rule_table = table;
        self.applied_states = None;
    }

    /// Brings the staged and disabled rules up to the table's states; the Python side hears of
    /// staging only when it changed.
    fn apply_rule_states(&mut self, py: Python<'_>) -> PyResult<()> {
        let states = match (&self.rule_table, &self.applied_states) {
            (None, Some(_)) => return Ok(()),
            (None, None) => Arc::default(),
            (Some(table), None) => table.fresh_states(),
            (Some(table), Some(_)) => table.states(),
        };
        if self
            .applied_states
            .as_ref()
            .is_some_and(|applied| Arc::ptr_eq(applied, &states))
        {
            return Ok(());
        }
        let mut staged = BTreeSet::new();
        for (disabled, rule) in self.disabled.iter_mut().zip(self.catalog.rules()) {
            let name = &rule.name;
            if !states.listed.contains(name) {
                // No row: as it was (see RuleStates::listed).
                if self.staged.contains(name) {
                    staged.insert(name.clone());
                }
                continue;
            }
            *disabled = states.disabled.contains(name);
            if self.rule_staging && states.staged.contains(name) {
                staged.insert(name.clone());
            }
        }
        if staged != self.staged {
            self.runtime
                .bind(py)
                .call_method1("set_staged", (staged.iter().collect::<Vec<_>>(),))?;
            self.staged = staged;
        }
        self.applied_states = Some(states);
        Ok(())
    }

    /// Runs every applicable rule on every record of `batch`, in order (docs/spec §9.3), and builds the
    /// alerts. The records move into their alerts.
    pub fn evaluate(&mut self, batch: Vec<ClassifiedRecord>) -> Result<BatchOutcome, RulesError> {
        self.run(Arc::new(batch))?.into_outcome()
    }

    /// Runs every applicable rule on every record of `batch`, in order (docs/spec §9.3), leaving the
    /// alerts to be built by [`Evaluation::into_outcome`], on whichever thread suits the caller.
    /// The batch is only read (its dicts are built from it), so a caller that keeps it, to
    /// offer it again after a crash, shares it instead of copying it; only threat-intel
    /// enrichment needs a batch of its own.
    pub fn run(&mut self, batch: Arc<Vec<ClassifiedRecord>>) -> Result<Evaluation, RulesError> {
        let batch = match &self.threat_intel {
            None => batch,
            Some((config, store)) => {
                let mut batch = Arc::unwrap_or_clone(batch);
                let mut records: Vec<&mut Map<String, Value>> =
                    batch.iter_mut().map(|r| &mut r.record).collect();
                config
                    .enrich(&mut records, store.as_ref())
                    .map_err(RulesError::ThreatIntel)?;
                Arc::new(batch)
            }
        };
        let mut evaluation = Evaluation {
            records: Arc::default(),
            hits: Vec::new(),
            errors: Vec::new(),
            rules: self.catalog.shared(),
            clock: self.clock,
            records_evaluated: 0,
            rule_calls: 0,
        };
        Python::attach(|py| {
            let python_error = |e: PyErr| RulesError::Python(python_error::describe(py, &e));
            self.apply_rule_states(py).map_err(python_error)?;
            let mut candidates = Vec::new();
            for (index, classified) in batch.iter().enumerate() {
                let applicable = self.catalog.for_log_type(&classified.log_type);
                candidates.clear();
                candidates.extend(applicable.rules.iter().copied().filter(|&i| {
                    !self.disabled[i]
                        && self.catalog.get(i).has_required_subkeys(&classified.record)
                }));
                if candidates.is_empty() {
                    continue;
                }
                evaluation.records_evaluated += 1;
                evaluation.rule_calls += candidates.len();
                let view = chosen_view(self.whole_records, &applicable);
                let dict = self
                    .dicts
                    .view(py, &classified.record, view)
                    .map_err(python_error)?;
                self.evaluate_record(py, index, &dict, &candidates, &mut evaluation)
                    .map_err(python_error)?;
            }
            Ok::<_, RulesError>(())
        })?;
        evaluation.records = batch;
        Ok(evaluation)
    }

    fn evaluate_record(
        &mut self,
        py: Python<'_>,
        index: usize,
        dict: &Bound<'_, PyDict>,
        candidates: &[usize],
        evaluation: &mut Evaluation,
    ) -> PyResult<()> {
        let result = self
            .evaluate
            .bind(py)
            .call1((dict, PyTuple::new(py, candidates)?))?;
        if result.is_none() {
            return Ok(());
        }
        let (hits, errors): (Bound<'_, PyList>, Bound<'_, PyList>) = result.extract()?;
        for error in errors.iter() {
            let (rule, stage, message): (usize, String, String) = error.extract()?;
            evaluation.errors.push(RuleError {
                record: index,
                rule,
                stage,
                message,
            });
        }
        for hit in hits.iter() {
            let (rule, outputs, context, publishers, staged): (
                usize,
                Option<Vec<String>>,
                Bound<'_, PyAny>,
                Bound<'_, PyAny>,
                bool,
            ) = hit.extract()?;
            let routing = match outputs {
                Some(outputs) => Some((
                    outputs.into_iter().collect(),
                    if publishers.is_none() {
                        None
                    } else {
                        Some(from_python(&publishers)?)
                    },
                )),
                None => None,
            };
            evaluation.hits.push(RuleHit {
                record: index,
                rule,
                routing,
                context: object_from_python(&context, "rule context")?,
                staged,
            });
        }
        Ok(())
    }

    /// The publication `alert` gets for `output` (`service:descriptor`), composed exactly as
    /// the alert processor does (docs/spec §13.3). In test mode the record keeps its
    /// normalization: StreamAlert's test runner composes the rules engine's alerts directly, and
    /// only the processor removes it (docs/spec §15.6, §12.1).
    pub fn compose(&self, alert: &Alert, output: &str) -> Result<Value, RulesError> {
        Python::attach(|py| {
            let python_alert = alert.to_python(py, !self.test_mode)?;
            let publication = self
                .runtime
                .bind(py)
                .call_method1("compose", (python_alert, output))?;
            from_python(&publication)
        })
        .map_err(described)
    }

    /// Per-rule timing since load, by rule name (empty unless `rule_timing` was set).
    pub fn rule_timings(&self) -> Result<Vec<(String, RuleTiming)>, RulesError> {
        if !self.rule_timing {
            return Ok(Vec::new());
        }
        Python::attach(|py| {
            let timings: Vec<(usize, u64, u64, u64)> =
                self.runtime.bind(py).call_method0("timings")?.extract()?;
            Ok(timings
                .into_iter()
                .map(|(index, calls, total_ns, max_ns)| {
                    let timing = RuleTiming {
                        calls,
                        total: Duration::from_nanos(total_ns),
                        max: Duration::from_nanos(max_ns),
                    };
                    (self.catalog.get(index).name.clone(), timing)
                })
                .collect())
        })
        .map_err(described)
    }

    /// Measures the cost of one call from Rust into a Python function on a prebuilt dict.
    pub fn python_call_cost(&self, calls: u32) -> Result<Duration, RulesError> {
        Python::attach(|py| {
            let noop = self.runtime.bind(py).getattr("noop")?;
            let record = pyo3::types::PyDict::new(py);
            let started = Instant::now();
            for _ in 0..calls {
                noop.call1((&record,))?;
            }
            Ok(started.elapsed() / calls.max(1))
        })
        .map_err(described)
    }
}

impl Drop for RulesEngine {
    fn drop(&mut self) {
        Python::attach(|py| {
            if let Err(error) = self.runtime.bind(py).call_method0("reset") {
                tracing::error!(
                    "resetting the rules interpreter: {}",
                    python_error::describe(py, &error)
                );
            }
        });
        LOADED.store(false, Ordering::SeqCst);
    }
}

/// A Python error raised outside a rule, with its traceback.
fn described(error: PyErr) -> RulesError {
    Python::attach(|py| RulesError::Python(python_error::describe(py, &error)))
}

/// The view of a record the rules of a log type get: theirs, unless whole records are asked for.
fn chosen_view(whole_records: bool, rules: &LogTypeRules) -> &RecordView {
    static WHOLE: RecordView = RecordView::Whole;
    if whole_records { &WHOLE } else { &rules.view }
}

fn rule_info(entry: &Bound<'_, PyAny>) -> PyResult<RuleInfo> {
    let logs = entry.get_item("logs")?;
    let logs = if logs.is_none() {
        LogsFilter::All
    } else if let Ok(text) = logs.extract::<String>() {
        LogsFilter::Substring(text)
    } else {
        LogsFilter::Names(logs.extract()?)
    };
    let req_subkeys: Option<Vec<(String, Bound<'_, PyAny>)>> =
        entry.get_item("req_subkeys")?.extract()?;
    let req_subkeys = req_subkeys
        .unwrap_or_default()
        .into_iter()
        .map(|(key, subs)| {
            // A plain string sub-key list is iterated character by character in StreamAlert.
            let subs = match subs.extract::<String>() {
                Ok(text) => text.chars().map(String::from).collect(),
                Err(_) => subs.extract()?,
            };
            Ok((key, subs))
        })
        .collect::<PyResult<_>>()?;
    let static_outputs: Option<Vec<String>> = entry.get_item("static_outputs")?.extract()?;
    let static_publishers = entry.get_item("static_publishers")?;
    let static_routing = match static_outputs {
        Some(outputs) => {
            let publishers = if static_publishers.is_none() {
                None
            } else {
                Some(from_python(&static_publishers)?)
            };
            Some((outputs.into_iter().collect(), publishers))
        }
        None => None,
    };
    Ok(RuleInfo {
        static_routing,
        name: entry.get_item("name")?.extract()?,
        logs,
        req_subkeys,
        disabled: entry.get_item("disabled")?.extract()?,
        description: entry.get_item("description")?.extract()?,
        merge_by_keys: entry.get_item("merge_by_keys")?.extract()?,
        merge_window_mins: entry.get_item("merge_window_mins")?.extract()?,
        policy: {
            let policy = entry.get_item("policy")?;
            crate::alert::AlertPolicy {
                send_first: policy.get_item("send_first")?.extract()?,
                threshold: policy.get_item("threshold")?.extract()?,
                dedup_keys: policy.get_item("dedup_keys")?.extract()?,
                dedup_window_mins: policy.get_item("dedup_window_mins")?.extract()?,
            }
        },
        file: entry.get_item("file")?.extract()?,
        line: entry.get_item("line")?.extract()?,
        record_keys: entry.get_item("record_keys")?.extract()?,
    })
}
