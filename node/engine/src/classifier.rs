//! Classification (docs/spec §6): pick the candidate log types of a payload from its cluster's
//! `data_sources`, try them in priority order, and hand out the records of the first that
//! parses, or a dead letter that says why nothing did.
//!
//! A payload is decoded once ([`Root`]); every candidate log type reads that same value, and
//! extractions that do not depend on the log type (a `json_path` with its `embedded_json` flag,
//! the fixed-field text parsers) are computed once per payload and shared.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::envelope::ENVELOPE_KEY;
use crate::log_type::{JsonExtraction, LogType};
use crate::normalize::NORMALIZATION_KEY;
use crate::parsers::{self, Candidate, JSON, Rejection, Root, SharedExtractions};
use crate::record::ClassifiedRecord;
use crate::schema::{
    coerce_record, coercion_failure, key_mismatch, missing_optional_after_coercion, record_matches,
};

/// A configuration with its routing table, ready to classify. Cheap to share across threads.
#[derive(Debug)]
pub struct Classifier {
    config: Config,
    /// service → resource → route.
    routes: HashMap<String, HashMap<String, Route>>,
}

#[derive(Debug)]
struct Route {
    cluster: String,
    /// Indices into `config.log_types`, in candidate order.
    candidates: Vec<usize>,
    listed: Vec<String>,
}

/// docs/spec §6.1's configuration errors: StreamAlert fails the whole invocation on these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    UnknownResource { service: String, resource: String },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::UnknownResource { service, resource } => {
                write!(
                    f,
                    "no cluster lists {resource} under data_sources.{service}"
                )
            }
        }
    }
}

impl std::error::Error for RouteError {}

/// What became of one payload record.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub records: Vec<ClassifiedRecord>,
    pub dead_letters: Vec<DeadLetter>,
}

/// A payload record (or a sub-record of a classified payload) that yielded no classified record.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub cluster: String,
    pub service: String,
    pub resource: String,
    /// Set when the payload was classified but this sub-record failed the winning type.
    pub log_type: Option<String>,
    /// The raw payload or sub-record.
    pub record: String,
    /// Why the candidate log types rejected it, by reason, in candidate order.
    pub failures: Vec<CandidateFailure>,
    /// Where the payload came from (`kinesis/STREAM/SHARD/SEQ#SUB`, a file offset...), set by
    /// the source that knows it; empty otherwise.
    pub origin: String,
}

impl DeadLetter {
    /// One line: `cloudtrail:events: missing key eventID; extra key foo | cloudwatch:events: …`.
    pub fn reason(&self) -> String {
        self.failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// One reason candidate log types gave for rejecting a record, with the types that gave it.
/// Types giving the same reason share one entry, and only the first few are named: a text line
/// offered to sixty JSON log types is "payload is not JSON" once, not sixty times, so a dead
/// letter costs memory in proportion to what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateFailure {
    /// The first [`NAMED_PER_REASON`] types that gave this reason, in candidate order.
    pub log_types: Vec<String>,
    /// How many more types gave it.
    pub more: usize,
    pub reason: String,
}

/// Log types named per reason in a dead letter; the rest are counted.
pub const NAMED_PER_REASON: usize = 3;

impl CandidateFailure {
    pub fn new(log_type: impl Into<String>, reason: impl Into<String>) -> Self {
        CandidateFailure {
            log_types: vec![log_type.into()],
            more: 0,
            reason: reason.into(),
        }
    }

    /// `(log type, reason)` pairs in candidate order, grouped by reason in order of first
    /// appearance.
    pub fn grouped<'a>(
        rejections: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Vec<CandidateFailure> {
        let mut groups: Vec<CandidateFailure> = Vec::new();
        for (log_type, reason) in rejections {
            match groups.iter_mut().find(|group| group.reason == reason) {
                Some(group) if group.log_types.len() < NAMED_PER_REASON => {
                    group.log_types.push(log_type.to_owned());
                }
                Some(group) => group.more += 1,
                None => groups.push(CandidateFailure::new(log_type, reason)),
            }
        }
        groups
    }
}

impl fmt::Display for CandidateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.log_types.join(", "))?;
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The verdict on one candidate record of one log type.
enum Verdict {
    /// Valid; holds the coerced record when the check already built it (log_patterns).
    Valid(Option<Map<String, Value>>),
    Invalid(Option<String>),
}

/// What one log type made of a payload.
enum TypeResult {
    /// At least one valid record: (verdicts per candidate) with the envelope.
    Matched {
        verdicts: Vec<Verdict>,
        envelope: Map<String, Value>,
    },
    NoMatch(Option<String>),
}

impl Classifier {
    pub fn new(config: Config) -> Classifier {
        let mut routes: HashMap<String, HashMap<String, Route>> = HashMap::new();
        for cluster in &config.clusters {
            for (service, resources) in &cluster.data_sources {
                for (resource, listed) in resources {
                    let candidates = config
                        .log_types
                        .iter()
                        .enumerate()
                        .filter(|(_, lt)| listed.iter().any(|l| *l == lt.source || *l == lt.name))
                        .map(|(i, _)| i)
                        .collect();
                    routes
                        .entry(service.clone())
                        .or_default()
                        .entry(resource.clone())
                        .or_insert(Route {
                            cluster: cluster.name.clone(),
                            candidates,
                            listed: listed.clone(),
                        });
                }
            }
        }
        Classifier { config, routes }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cluster and candidate log types (in order) for a service and resource.
    pub fn candidates(
        &self,
        service: &str,
        resource: &str,
    ) -> Result<(&str, Vec<&LogType>), RouteError> {
        let route = self.route(service, resource)?;
        Ok((
            &route.cluster,
            route
                .candidates
                .iter()
                .map(|i| &self.config.log_types[*i])
                .collect(),
        ))
    }

    fn route(&self, service: &str, resource: &str) -> Result<&Route, RouteError> {
        self.routes
            .get(service)
            .and_then(|resources| resources.get(resource))
            .ok_or_else(|| RouteError::UnknownResource {
                service: service.into(),
                resource: resource.into(),
            })
    }

    /// Classifies one payload record from `service`/`resource` (docs/spec §6.2): the first candidate log
    /// type with at least one valid record wins; its invalid sub-records and unmatched payloads
    /// become dead letters.
    pub fn classify(
        &self,
        service: &str,
        resource: &str,
        root: Root,
    ) -> Result<Classification, RouteError> {
        let route = self.route(service, resource)?;
        let dead_letter =
            |log_type: Option<&str>, record: String, failures: Vec<CandidateFailure>| DeadLetter {
                cluster: route.cluster.clone(),
                service: service.into(),
                resource: resource.into(),
                log_type: log_type.map(str::to_string),
                record,
                failures,
                origin: String::new(),
            };
        if route.candidates.is_empty() {
            let reason = format!(
                "no log type belongs to the sources listed for this resource ({})",
                route.listed.join(", ")
            );
            let failure = CandidateFailure::new("(none)", reason);
            return Ok(Classification {
                records: Vec::new(),
                dead_letters: vec![dead_letter(None, root.to_raw_string(), vec![failure])],
            });
        }
        let mut shared = SharedExtractions::default();
        let mut winner = None;
        for &index in &route.candidates {
            let lt = &self.config.log_types[index];
            if let TypeResult::Matched { verdicts, envelope } =
                self.try_log_type(lt, &root, &mut shared, false)
            {
                winner = Some((lt, verdicts, envelope));
                break;
            }
        }
        let Some((lt, verdicts, envelope)) = winner else {
            let failures = self.explain(route, &root, &mut shared);
            drop(shared);
            return Ok(Classification {
                records: Vec::new(),
                dead_letters: vec![dead_letter(None, root.to_raw_string(), failures)],
            });
        };
        let mut out = Classification {
            records: Vec::new(),
            dead_letters: Vec::new(),
        };
        let settle = |out: &mut Classification,
                      verdict: Verdict,
                      value: Option<Value>,
                      root: &Root| match (verdict, value) {
            (Verdict::Valid(Some(coerced)), _)
            | (Verdict::Valid(None), Some(Value::Object(coerced))) => {
                out.records.push(ClassifiedRecord {
                    cluster: route.cluster.clone(),
                    log_type: lt.name.clone(),
                    record: self.finish(lt, coerced, &envelope),
                    service: service.into(),
                    resource: resource.into(),
                    data_type: lt.parser.name.into(),
                    origin: String::new(),
                });
            }
            (_, value) => {
                let reason = match &value {
                    Some(v) => self.check(lt, v, &envelope, true).err().flatten(),
                    None => Some(Rejection::NotJson.to_string()),
                };
                let raw = value.map_or_else(|| root.to_raw_string(), |v| v.to_string());
                let failure = CandidateFailure::new(
                    lt.name.clone(),
                    reason.unwrap_or_else(|| "does not match".into()),
                );
                out.dead_letters
                    .push(dead_letter(Some(&lt.name), raw, vec![failure]));
            }
        };
        match &lt.json {
            JsonExtraction::Root if lt.parser == &JSON => {
                // The single candidate is the payload itself: move it instead of copying it.
                drop(shared);
                let verdict = verdicts
                    .into_iter()
                    .next()
                    .unwrap_or(Verdict::Invalid(None));
                let (value, rest) = match root {
                    Root::Json(v) => (Some(v), Root::Text(String::new())),
                    text => (None, text),
                };
                settle(&mut out, verdict, value, &rest);
            }
            JsonExtraction::Path {
                path,
                embedded_json: false,
            } if lt.parser == &JSON => {
                // The records are parts of the payload: move them out of it.
                drop(shared);
                let Root::Json(doc) = root else {
                    return Ok(out);
                };
                let empty = Root::Text(String::new());
                for (value, verdict) in path
                    .take_records(doc)
                    .unwrap_or_default()
                    .into_iter()
                    .zip(verdicts)
                {
                    settle(&mut out, verdict, Some(value), &empty);
                }
            }
            _ => {
                let candidates = self.take_candidates(lt, &root, &mut shared);
                for (candidate, verdict) in candidates.into_iter().zip(verdicts) {
                    match &candidate.rejection {
                        Some(rejection) => {
                            let raw = candidate
                                .value
                                .map_or_else(|| root.to_raw_string(), |v| v.to_string());
                            let failure =
                                CandidateFailure::new(lt.name.clone(), rejection.to_string());
                            out.dead_letters
                                .push(dead_letter(Some(&lt.name), raw, vec![failure]));
                        }
                        None => settle(
                            &mut out,
                            verdict,
                            candidate.value.map(Cow::into_owned),
                            &root,
                        ),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every candidate log type that would accept the payload, in candidate order. More than
    /// one means the schemas are ambiguous for this sample: only the first ever wins.
    pub fn matching_log_types(
        &self,
        service: &str,
        resource: &str,
        root: &Root,
    ) -> Result<Vec<String>, RouteError> {
        let route = self.route(service, resource)?;
        let mut shared = SharedExtractions::default();
        Ok(route
            .candidates
            .iter()
            .map(|&i| &self.config.log_types[i])
            .filter(|lt| {
                matches!(
                    self.try_log_type(lt, root, &mut shared, false),
                    TypeResult::Matched { .. }
                )
            })
            .map(|lt| lt.name.clone())
            .collect())
    }

    /// Why log type `name` rejects the payload; `None` if it is not a candidate or matches.
    pub fn explain_log_type(
        &self,
        service: &str,
        resource: &str,
        root: &Root,
        name: &str,
    ) -> Option<String> {
        let route = self.route(service, resource).ok()?;
        let lt = route
            .candidates
            .iter()
            .map(|&i| &self.config.log_types[i])
            .find(|lt| lt.name == name)?;
        match self.try_log_type(lt, root, &mut SharedExtractions::default(), true) {
            TypeResult::NoMatch(reason) => Some(reason.unwrap_or_else(|| "does not match".into())),
            TypeResult::Matched { .. } => None,
        }
    }

    fn explain<'a>(
        &'a self,
        route: &Route,
        root: &'a Root,
        shared: &mut SharedExtractions<'a>,
    ) -> Vec<CandidateFailure> {
        CandidateFailure::grouped(route.candidates.iter().map(|&i| {
            let lt = &self.config.log_types[i];
            let reason = match self.try_log_type(lt, root, shared, true) {
                TypeResult::NoMatch(reason) => reason.unwrap_or_else(|| "does not match".into()),
                TypeResult::Matched { .. } => "matches".into(),
            };
            (lt.name.as_str(), reason)
        }))
    }

    /// The candidates of the winning type, moved out of the shared extractions (no copy of
    /// decoded embedded records).
    fn take_candidates<'a>(
        &'a self,
        lt: &'a LogType,
        root: &'a Root,
        shared: &mut SharedExtractions<'a>,
    ) -> Vec<Candidate<'a>> {
        if lt.parser == &JSON {
            return shared.take_json(&lt.json, root);
        }
        parsers::candidates(lt, root, shared, true).into_owned()
    }

    fn try_log_type<'a>(
        &'a self,
        lt: &'a LogType,
        root: &'a Root,
        shared: &mut SharedExtractions<'a>,
        explain: bool,
    ) -> TypeResult {
        if let Some(reason) = &lt.never_matches {
            return TypeResult::NoMatch(Some(reason.clone()));
        }
        let envelope = match &lt.envelope {
            None => Map::new(),
            Some(e) => match e.extract(root) {
                Ok(env) => env,
                Err(reason) => return TypeResult::NoMatch(Some(reason.to_string())),
            },
        };
        let candidates = parsers::candidates(lt, root, shared, false);
        let mut verdicts = Vec::with_capacity(candidates.len());
        let mut any_valid = false;
        let mut first_reason = None;
        for candidate in candidates.iter() {
            let verdict = match &candidate.rejection {
                Some(rejection) => Verdict::Invalid(explain.then(|| rejection.to_string())),
                None => {
                    match self.check(lt, candidate_value(candidate, root), &envelope, explain) {
                        Ok(coerced) => Verdict::Valid(coerced),
                        Err(reason) => Verdict::Invalid(reason),
                    }
                }
            };
            match &verdict {
                Verdict::Valid(_) => any_valid = true,
                Verdict::Invalid(reason) if first_reason.is_none() => first_reason = reason.clone(),
                Verdict::Invalid(_) => {}
            }
            verdicts.push(verdict);
        }
        if any_valid {
            TypeResult::Matched { verdicts, envelope }
        } else {
            TypeResult::NoMatch(first_reason)
        }
    }

    /// Key check, coercion dry run and log_patterns (docs/spec §3.3 steps 1–4) without copying the record
    /// unless patterns need its coerced values.
    fn check(
        &self,
        lt: &LogType,
        value: &Value,
        envelope: &Map<String, Value>,
        explain: bool,
    ) -> Result<Option<Map<String, Value>>, Option<String>> {
        if !record_matches(value, &lt.schema) {
            return Err(explain.then(|| {
                let map = value.as_object();
                key_mismatch(value, &lt.schema)
                    .or_else(|| map.and_then(|m| coercion_failure(m, &lt.schema)))
                    .unwrap_or_default()
            }));
        }
        let Value::Object(map) = value else {
            return Err(explain.then(|| "not a JSON object".to_string()));
        };
        let Some(patterns) = &lt.log_patterns else {
            return Ok(None);
        };
        if patterns.matches_coerced(map, &lt.schema, envelope) {
            return Ok(None);
        }
        Err(explain.then(|| {
            let mut coerced = map.clone();
            coerce_record(&mut coerced, &lt.schema);
            patterns.explain(&coerced)
        }))
    }

    /// docs/spec §3.3 step 5 and §6.3: coerce, attach the envelope, fill optional keys, normalize.
    fn finish(
        &self,
        lt: &LogType,
        mut record: Map<String, Value>,
        envelope: &Map<String, Value>,
    ) -> Map<String, Value> {
        let missing = missing_optional_after_coercion(&mut record, &lt.schema).unwrap_or_default();
        if !envelope.is_empty() {
            record.insert(ENVELOPE_KEY.into(), Value::Object(envelope.clone()));
        }
        for (key, ty, _) in missing.into_iter().filter_map(|i| lt.schema.field_at(i)) {
            record.insert(key.clone(), ty.default_value());
        }
        if let Some(normalization) = &lt.normalization {
            let normalized = normalization.apply(&record);
            record.insert(NORMALIZATION_KEY.into(), Value::Object(normalized));
        }
        record
    }
}

/// A candidate's value; `None` stands for the payload, which for a valid candidate is JSON.
fn candidate_value<'v>(candidate: &'v Candidate<'_>, root: &'v Root) -> &'v Value {
    static NULL: Value = Value::Null;
    match (&candidate.value, root) {
        (Some(v), _) => v,
        (None, Root::Json(v)) => v,
        (None, Root::Text(_)) => &NULL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classifier_can_be_shared_across_classifier_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Classifier>();
        shareable::<Classification>();
    }
}
