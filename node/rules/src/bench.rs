//! `sactl bench rules`: classify + rules over a repository's test events replicated to N
//! records, on one core (the calling thread), with where the time goes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sa_engine::bench_corpus;
use sa_engine::classifier::RouteError;
use sa_engine::error::ConfigErrors;
use sa_engine::parsers::Root;
use sa_engine::test_events::TestFilesError;
use sa_engine::{ClassifiedRecord, Classifier, Config, test_events};
use serde_json::{Map, Value};

use pyo3::prelude::*;

use crate::clock::Clock;
use crate::engine::{EngineOptions, LoadError, RuleTiming, RulesEngine};
use crate::error::RulesError;
use crate::evaluation::Evaluation;
use crate::interpreter::PythonEnv;
use crate::lookup::{self, FixtureTables};
use crate::record_dict::RecordDicts;
use crate::repository::{LayoutError, RepositoryLayout};
use crate::rule_catalog::RecordView;
use crate::worker::{RulesHandle, RulesWorker};

/// Why `bench rules` could not measure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The configuration directory does not load.
    #[error("{}: {errors}", dir.display())]
    Config { dir: PathBuf, errors: ConfigErrors },
    #[error(transparent)]
    TestFiles(#[from] TestFilesError),
    /// No test event of the repository classifies.
    #[error("{}: no test event classifies; nothing to replay", .0.display())]
    NothingToReplay(PathBuf),
    /// The payload file of a [`Corpus::Payloads`] cannot be read or holds no line.
    #[error("{}: {reason}", path.display())]
    Payloads { path: PathBuf, reason: String },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Classify(#[from] RouteError),
    /// Python raised while the records' dicts were being built.
    #[error("{0}")]
    Python(String),
    /// The OS refused a bench thread (its message).
    #[error("cannot start a bench thread: {0}")]
    ThreadStart(String),
    /// A thread of the pipelined run panicked (which one).
    #[error("{0}")]
    Panicked(&'static str),
}

/// Classifies one chunk of the replayed payloads.
fn classify_chunk(
    classifier: &Classifier,
    chunk: &[&(String, String, String)],
) -> Result<Vec<ClassifiedRecord>, BenchError> {
    let mut records = Vec::with_capacity(chunk.len());
    for (service, source, data) in chunk {
        let classification = classifier.classify(service, source, Root::from_text(data))?;
        records.extend(classification.records);
    }
    Ok(records)
}

/// CPU time to build (and free) the dict `views[i]` calls for of each record.
fn time_dicts(
    dicts: &mut RecordDicts,
    records: &[ClassifiedRecord],
    views: &[RecordView],
) -> Result<Duration, BenchError> {
    let started = CpuClock::start();
    Python::attach(|py| {
        for (record, view) in records.iter().zip(views) {
            drop(dicts.view(py, &record.record, view)?);
        }
        Ok::<_, PyErr>(())
    })
    .map_err(|e| BenchError::Python(e.to_string()))?;
    Ok(started.elapsed())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// CPU time of the calling thread: on a shared machine, wall time would count other
/// processes' work.
struct CpuClock(Duration);

impl CpuClock {
    fn now() -> Duration {
        bench_corpus::thread_cpu_time()
    }

    fn start() -> Self {
        CpuClock(Self::now())
    }

    fn elapsed(&self) -> Duration {
        Self::now().saturating_sub(self.0)
    }
}

/// Measured figures of one run (times are CPU time of the benchmarking thread).
#[derive(Debug, Clone, Default)]
pub struct RulesBenchReport {
    pub records: usize,
    /// Distinct payloads replicated to `records`.
    pub distinct_payloads: usize,
    pub rules_loaded: usize,
    pub classify: Duration,
    pub rules: Duration,
    pub alerts: usize,
    /// Records that had at least one rule left after the Rust pre-filter (crossed into Python).
    pub records_evaluated: usize,
    pub rule_calls: usize,
    pub rule_failures: usize,
    /// Part of `rules`: alerts built from the rule hits and records dropped, which the node does
    /// off the rules thread.
    pub alert_building: Duration,
    /// One call from Rust into a Python function taking a prebuilt dict.
    pub python_call: Duration,
    /// Converting every classified record into the Python dict its rules get (the keys they
    /// can read, or the whole record), measured alone (the rules engine does it again inside
    /// `rules`).
    pub to_python: Duration,
    /// The same for whole records, as without sa's analysis of which keys rules read.
    pub to_python_whole: Duration,
    /// Rules that read only named keys of the record, by their source.
    pub rules_reading_keys: usize,
    /// Wall time of the pipelined run, shaped as the node: `classifier_threads` threads classify
    /// batches for the rules thread, which runs only Python, and another thread builds the
    /// alerts from its results.
    pub pipelined: Duration,
    pub classifier_threads: usize,
    pub pipelined_cpu: PipelinedCpu,
    /// Alerts of the pipelined run (the same as `alerts` when the run is deterministic).
    pub pipelined_alerts: usize,
    /// Per-rule timing over the first records, measured in a run of its own (timing costs two
    /// clock reads per rule call, which the figures above do not pay).
    pub rule_times: RuleTimes,
}

/// Where the rule functions' own time goes.
#[derive(Debug, Clone, Default)]
pub struct RuleTimes {
    pub records: usize,
    /// Time inside all rule functions (and their context copies), over `records`.
    pub total: Duration,
    /// The rules that took longest in all, longest first.
    pub slowest: Vec<(String, RuleTiming)>,
}

impl RulesBenchReport {
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / (self.classify + self.rules).as_secs_f64()
    }

    pub fn pipelined_records_per_second(&self) -> f64 {
        self.records as f64 / self.pipelined.as_secs_f64()
    }

    /// What the pipelined run's rules thread alone could sustain: records per second of its
    /// CPU time (it is the one part that cannot spread over more cores).
    pub fn rules_thread_ceiling(&self) -> f64 {
        self.records as f64 / self.pipelined_cpu.rules_thread.as_secs_f64()
    }

    pub fn classify_share(&self) -> f64 {
        self.classify.as_secs_f64() / (self.classify + self.rules).as_secs_f64()
    }
}

/// The table `sactl bench rules` and `cargo bench -p sa-rules` print.
impl fmt::Display for RulesBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_record = |d: Duration| d.as_secs_f64() * 1e6 / self.records.max(1) as f64;
        writeln!(
            f,
            "records              {} ({} distinct payloads, {} rules)",
            self.records, self.distinct_payloads, self.rules_loaded
        )?;
        writeln!(
            f,
            "classify + rules     {:.0} records/s on one core (CPU time)",
            self.records_per_second()
        )?;
        writeln!(
            f,
            "  classify           {:.1} µs/record ({:.0}% of the time)",
            per_record(self.classify),
            self.classify_share() * 100.0
        )?;
        writeln!(
            f,
            "  rules              {:.1} µs/record ({:.0}%)",
            per_record(self.rules),
            (1.0 - self.classify_share()) * 100.0
        )?;
        writeln!(
            f,
            "    record -> dict   {:.1} µs/record ({:.1} for whole records; {} of {} rules read named keys only)",
            per_record(self.to_python),
            per_record(self.to_python_whole),
            self.rules_reading_keys,
            self.rules_loaded
        )?;
        writeln!(
            f,
            "    rule calls       {:.2} per record ({} records crossed into Python)",
            self.rule_calls as f64 / self.records.max(1) as f64,
            self.records_evaluated
        )?;
        writeln!(
            f,
            "    alerts           {} ({} rule exceptions), built in {:.1} µs/record off the rules thread",
            self.alerts,
            self.rule_failures,
            per_record(self.alert_building)
        )?;
        writeln!(
            f,
            "one Python call      {} ns (Rust -> Python function on a prebuilt dict)",
            self.python_call.as_nanos()
        )?;
        write!(
            f,
            "pipelined            {:.0} records/s wall ({} classifier thread(s), the rules thread and an alerts thread on {} cores)",
            self.pipelined_records_per_second(),
            self.classifier_threads,
            cores()
        )?;
        let cpu = &self.pipelined_cpu;
        write!(
            f,
            "\n  CPU per record     classifiers {:.1} µs, rules thread {:.1} µs, alerts {:.1} µs: \
             the rules thread could sustain {:.0} records/s with classification on other cores",
            per_record(cpu.classifiers),
            per_record(cpu.rules_thread),
            per_record(cpu.alerts_thread),
            self.rules_thread_ceiling()
        )?;
        let cores = cores();
        let all = cpu.classifiers + cpu.rules_thread + cpu.alerts_thread;
        write!(
            f,
            "\n  bounds             {:.0} records/s by the classifier thread(s), {:.0} by all the \
             CPU spread over {cores} core(s)",
            self.records as f64 * self.classifier_threads as f64 / cpu.classifiers.as_secs_f64(),
            self.records as f64 * cores as f64 / all.as_secs_f64()
        )?;
        let times = &self.rule_times;
        if times.records == 0 {
            return Ok(());
        }
        write!(
            f,
            "\nslowest rules        rule functions take {:.1} µs/record in all (timed over {} records)",
            times.total.as_secs_f64() * 1e6 / times.records as f64,
            times.records
        )?;
        for (name, timing) in &times.slowest {
            write!(
                f,
                "\n  {name:<40} {:>7} calls, mean {:>5.1} µs, {:>3.0}% of rule time",
                timing.calls,
                timing.total.as_secs_f64() * 1e6 / timing.calls.max(1) as f64,
                timing.total.as_secs_f64() * 100.0
                    / times.total.as_secs_f64().max(f64::MIN_POSITIVE)
            )?;
        }
        Ok(())
    }
}

/// What a bench replays.
#[derive(Debug, Clone)]
pub enum Corpus {
    /// The repository's test events (with their lookup-table fixtures).
    TestEvents,
    /// Each non-blank line of a file, as a payload of one data source: the records a node was
    /// sent, to compare its end-to-end figure with the engine's on the same input.
    Payloads {
        path: PathBuf,
        service: String,
        source: String,
    },
}

/// Replays `corpus` with `root`'s configuration and rules (conf/ and
/// general.rule_locations) as `records` payloads in `batch`-sized batches: first classify then
/// rules on this thread alone, then pipelined with `classifier_threads` classifier threads
/// beside the rules thread.
pub fn bench_repository(
    root: &Path,
    corpus: &Corpus,
    records: usize,
    batch: usize,
    classifier_threads: usize,
    env: PythonEnv,
) -> Result<RulesBenchReport, BenchError> {
    let conf = root.join("conf");
    let layout = RepositoryLayout::from_config(root, &conf)?;
    let config = Config::load_dir(&conf).map_err(|errors| BenchError::Config {
        dir: conf.clone(),
        errors,
    })?;
    let classifier = Classifier::new(config);
    let (payloads, tables) = match corpus {
        Corpus::TestEvents => test_event_payloads(root, &layout, &classifier)?,
        Corpus::Payloads {
            path,
            service,
            source,
        } => {
            let unreadable = |reason: String| BenchError::Payloads {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
            let lines: Vec<_> = text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| (service.clone(), source.clone(), line.to_owned()))
                .collect();
            if lines.is_empty() {
                return Err(unreadable("no payload line".into()));
            }
            (lines, HashMap::new())
        }
    };
    let options = EngineOptions {
        whole_records: false,
        env,
        test_mode: false,
        clock: Clock::System,
        rule_timing: false,
    };
    let mut engine = RulesEngine::load(&layout, &options)?;
    lookup::install(Arc::new(FixtureTables::new(tables)));
    let replayed: Vec<&(String, String, String)> = payloads.iter().cycle().take(records).collect();

    let mut report = RulesBenchReport {
        records: replayed.len(),
        distinct_payloads: payloads.len(),
        rules_loaded: engine.rules().len(),
        rules_reading_keys: engine
            .rules()
            .iter()
            .filter(|rule| rule.record_keys.is_some())
            .count(),
        ..RulesBenchReport::default()
    };
    // Batch after batch, as the node works: memory stays bounded, so the figures do not
    // include first-touch page faults of a heap holding every record at once.
    let mut dicts = RecordDicts::default();
    for chunk in replayed.chunks(batch.max(1)) {
        let started = CpuClock::start();
        let records = classify_chunk(&classifier, chunk)?;
        report.classify += started.elapsed();

        // The engine finds the view with the record's rules; only the dict's cost is timed.
        let views: Vec<RecordView> = records
            .iter()
            .map(|record| engine.record_view(&record.log_type))
            .collect();
        let whole = vec![RecordView::Whole; records.len()];
        report.to_python += time_dicts(&mut dicts, &records, &views)?;
        report.to_python_whole += time_dicts(&mut dicts, &records, &whole)?;

        let started = CpuClock::start();
        // As in the node, nothing else holds the batch once it is evaluated: its records move
        // into their alerts.
        let evaluation = engine.run(Arc::new(records))?;
        let python_done = started.elapsed();
        let outcome = evaluation.into_outcome()?;
        report.alerts += outcome.alerts.len();
        report.records_evaluated += outcome.records_evaluated;
        report.rule_calls += outcome.rule_calls;
        report.rule_failures += outcome.failures.len();
        drop(outcome);
        let elapsed = started.elapsed();
        report.rules += elapsed;
        report.alert_building += elapsed.saturating_sub(python_done);
    }
    report.python_call = engine.python_call_cost(100_000)?;
    drop(engine);

    let worker = RulesWorker::spawn(layout.clone(), options.clone(), 4)?;
    let handle = worker.handle();
    let rules_cpu_before = rules_thread_cpu(&handle)?;
    let started = Instant::now();
    let run = pipelined(
        &classifier,
        &replayed,
        batch.max(1),
        classifier_threads.max(1),
        &handle,
    )?;
    report.pipelined = started.elapsed();
    report.pipelined_cpu = PipelinedCpu {
        rules_thread: rules_thread_cpu(&handle)?.saturating_sub(rules_cpu_before),
        ..run.cpu
    };
    report.pipelined_alerts = run.alerts;
    report.classifier_threads = classifier_threads.max(1);
    drop(handle);
    drop(worker);
    let timed = &replayed[..replayed.len().min(TIMED_RECORDS)];
    report.rule_times = time_rules(&layout, options, &classifier, timed, batch.max(1))?;
    lookup::uninstall();
    Ok(report)
}

/// `(service, source, payload)`, as a node would be handed them.
type Payloads = Vec<(String, String, String)>;
/// Lookup tables by name.
type Tables = HashMap<String, Map<String, Value>>;

/// The payloads of `root`'s test events that classify, and every event's lookup-table fixtures
/// at once, so lookup rules do their real work.
fn test_event_payloads(
    root: &Path,
    layout: &RepositoryLayout,
    classifier: &Classifier,
) -> Result<(Payloads, Tables), BenchError> {
    let now = test_events::now();
    let dirs: Vec<_> = layout.rule_dirs.iter().map(|dir| root.join(dir)).collect();
    let mut payloads: Payloads = Vec::new();
    let mut tables: Tables = HashMap::new();
    for file in test_events::load(&dirs, &[])? {
        for event in file.events.into_iter().flatten() {
            let Ok(prepared) = test_events::prepare(&event.value, classifier.config(), now) else {
                continue;
            };
            let spec = &prepared.spec;
            if spec.classify_only || test_events::classify_event(classifier, &prepared).is_err() {
                continue;
            }
            // Every event's lookup-table fixtures at once, so lookup rules do their real work.
            let fixture_tables = spec
                .test_fixtures
                .as_ref()
                .and_then(|f| f.get("lookup_tables"));
            for (name, entries) in fixture_tables
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let table = tables.entry(name.clone()).or_default();
                table.extend(
                    entries
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            payloads.push((
                spec.service.clone(),
                spec.source.clone(),
                prepared.data.clone(),
            ));
        }
    }
    if payloads.is_empty() {
        return Err(BenchError::NothingToReplay(root.to_owned()));
    }
    Ok((payloads, tables))
}

/// Records the per-rule timing pass runs over: enough for every distinct event to count.
const TIMED_RECORDS: usize = 20_000;
/// Rules the report names.
const SLOWEST_SHOWN: usize = 5;

/// Runs `replayed` again with per-rule timing on, on this thread.
fn time_rules(
    layout: &RepositoryLayout,
    options: EngineOptions,
    classifier: &Classifier,
    replayed: &[&(String, String, String)],
    batch: usize,
) -> Result<RuleTimes, BenchError> {
    let options = EngineOptions {
        rule_timing: true,
        ..options
    };
    let mut engine = RulesEngine::load(layout, &options)?;
    for chunk in replayed.chunks(batch) {
        engine.run(Arc::new(classify_chunk(classifier, chunk)?))?;
    }
    let mut slowest = engine.rule_timings()?;
    let total = slowest.iter().map(|(_, timing)| timing.total).sum();
    slowest.sort_by_key(|(_, timing)| std::cmp::Reverse(timing.total));
    slowest.truncate(SLOWEST_SHOWN);
    Ok(RuleTimes {
        records: replayed.len(),
        total,
        slowest,
    })
}

/// CPU time the rules thread has used so far (read on that thread, between two batches).
fn rules_thread_cpu(handle: &RulesHandle) -> Result<Duration, RulesError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    handle.submit(Arc::default(), move |_| {
        let _ = sender.send(CpuClock::now());
    })?;
    // Dropped unanswered: the thread died with the request.
    receiver.recv().map_err(|_| RulesError::WorkerGone)
}

/// CPU time of each kind of thread in the pipelined run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelinedCpu {
    /// All classifier threads together.
    pub classifiers: Duration,
    pub rules_thread: Duration,
    pub alerts_thread: Duration,
}

struct PipelinedRun {
    alerts: usize,
    cpu: PipelinedCpu,
}

/// The node's shape: `threads` classifier threads take batches in turn and hand them to the one
/// rules thread, whose evaluations become alerts on another thread (the node's rules actor).
fn pipelined(
    classifier: &Classifier,
    replayed: &[&(String, String, String)],
    batch: usize,
    threads: usize,
    handle: &RulesHandle,
) -> Result<PipelinedRun, BenchError> {
    let chunks: Vec<_> = replayed.chunks(batch).collect();
    let next = AtomicUsize::new(0);
    let (done_sender, done) = std::sync::mpsc::channel::<Result<Evaluation, RulesError>>();
    let spawn_error = |e: std::io::Error| BenchError::ThreadStart(e.to_string());
    std::thread::scope(|scope| {
        let alerts = std::thread::Builder::new()
            .name("sa-alerts".to_owned())
            .spawn_scoped(scope, move || {
                let cpu = CpuClock::start();
                let alerts = done.into_iter().try_fold(0, |alerts, evaluation| {
                    Ok::<_, RulesError>(alerts + evaluation?.into_outcome()?.alerts.len())
                })?;
                Ok::<_, BenchError>((alerts, cpu.elapsed()))
            })
            .map_err(spawn_error)?;
        let classify_and_submit = |done_sender: std::sync::mpsc::Sender<_>| {
            let cpu = CpuClock::start();
            while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                let records = classify_chunk(classifier, chunk)?;
                let done_sender = done_sender.clone();
                handle.submit(Arc::new(records), move |evaluation| {
                    let _ = done_sender.send(evaluation);
                })?;
            }
            Ok::<_, BenchError>(cpu.elapsed())
        };
        let classifiers = (0..threads)
            .map(|_| {
                let done_sender = done_sender.clone();
                std::thread::Builder::new()
                    .name("sa-classifier".to_owned())
                    .spawn_scoped(scope, move || classify_and_submit(done_sender))
                    .map_err(spawn_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The alerts thread stops once every batch's reply has come back.
        drop(done_sender);
        let mut cpu = PipelinedCpu::default();
        for classifier in classifiers {
            cpu.classifiers += classifier
                .join()
                .map_err(|_| BenchError::Panicked("a classifier thread panicked"))??;
        }
        let (alerts, alerts_cpu) = alerts
            .join()
            .map_err(|_| BenchError::Panicked("the alerts thread panicked"))??;
        cpu.alerts_thread = alerts_cpu;
        Ok(PipelinedRun { alerts, cpu })
    })
}
