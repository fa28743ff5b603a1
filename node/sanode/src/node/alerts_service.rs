//! The Alerts gRPC service: alerts and their delivery, output settings, dead letters. Reads come
//! from this node's replica; writes go through Raft (forwarded to the leader).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sa_outputs::{DeliveryOutcome, OutputName, credential_properties};
use sa_proto::alerts::v1::alerts_server::Alerts;
use sa_proto::alerts::v1::{
    AlertSummary, DeadLetter, ListAlertsRequest, ListAlertsResponse, ListDeadLettersRequest,
    ListDeadLettersResponse, ListOutputsRequest, ListOutputsResponse, OutputInfo,
    ReplayDeadLettersRequest, ReplayDeadLettersResponse, ResendAlertRequest, ResendAlertResponse,
    RotateSecretsRequest, RotateSecretsResponse, SetOutputRequest, SetOutputResponse,
    ShowAlertRequest, ShowAlertResponse, TestOutputRequest, TestOutputResponse,
};
use sa_rules::{Alert, Clock};
use serde_json::{Map, Value, json};
use tonic::{Request, Response, Status};

use super::service_error::ServiceError;
use crate::alerts::dispatcher::{Deliverer, PreparedAlert};
use crate::alerts::view;
use crate::node::NodeContext;
use crate::pipeline::{Body, Payload, SourceBatch};
use sa_state::{AlertStore, StoredDeadLetter};

/// Classify dead letters a list answers at most when the request names no limit.
const DEFAULT_DEAD_LETTER_LIMIT: usize = 1_000;

pub struct AlertsService {
    pub node: Arc<NodeContext>,
    pub store: AlertStore,
    pub deliverer: Arc<Deliverer>,
}

#[tonic::async_trait]
impl Alerts for AlertsService {
    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let filter = request.into_inner();
        const STATUSES: [&str; 6] = [
            "pending",
            "delivered",
            "dead",
            "merged",
            "merging",
            "suppressed",
        ];
        if !filter.status.is_empty() && !STATUSES.contains(&filter.status.as_str()) {
            return Err(ServiceError::InvalidArgument(format!(
                "unknown status {:?} (one of {})",
                filter.status,
                STATUSES.join(", ")
            ))
            .into());
        }
        let mut selected = Vec::new();
        for alert in self.store.alerts().map_err(ServiceError::internal)? {
            if !filter.rule.is_empty() && alert.rule_name != filter.rule {
                continue;
            }
            if filter.since_micros != 0 && alert.created < filter.since_micros {
                continue;
            }
            if filter.until_micros != 0 && alert.created >= filter.until_micros {
                continue;
            }
            if !filter.status.is_empty()
                && view::status(&self.store, &alert).map_err(ServiceError::internal)?
                    != filter.status
            {
                continue;
            }
            selected.push(alert);
        }
        if filter.limit != 0 {
            let keep = filter.limit as usize;
            selected.drain(..selected.len().saturating_sub(keep));
        }
        let alerts = selected
            .iter()
            .map(|alert| {
                Ok(AlertSummary {
                    json: view::summary(&self.store, alert)?.to_string(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(ServiceError::internal)?;
        Ok(Response::new(ListAlertsResponse { alerts }))
    }

    async fn show_alert(
        &self,
        request: Request<ShowAlertRequest>,
    ) -> Result<Response<ShowAlertResponse>, Status> {
        let id = request.into_inner().alert_id;
        let Some(alert) = self.store.get(&id).map_err(ServiceError::internal)? else {
            return Ok(Response::new(ShowAlertResponse {
                found: false,
                json: String::new(),
            }));
        };
        let mut summary = view::summary(&self.store, &alert).map_err(ServiceError::internal)?;
        summary["published"] = alert.output_dict();
        Ok(Response::new(ShowAlertResponse {
            found: true,
            json: summary.to_string(),
        }))
    }

    async fn resend_alert(
        &self,
        request: Request<ResendAlertRequest>,
    ) -> Result<Response<ResendAlertResponse>, Status> {
        let request = request.into_inner();
        super::audit::note(format!(
            "alert {} to {}",
            request.alert_id,
            if request.outputs.is_empty() {
                "its outputs".to_string()
            } else {
                request.outputs.join(", ")
            }
        ));
        if self
            .store
            .get(&request.alert_id)
            .map_err(ServiceError::internal)?
            .is_none()
        {
            return Err(ServiceError::NotFound(format!("no alert {}", request.alert_id)).into());
        }
        let outputs = self
            .store
            .resend(&request.alert_id, &request.outputs)
            .await
            .map_err(|e| ServiceError::InvalidArgument(format!("{e:#}")))?;
        Ok(Response::new(ResendAlertResponse { outputs }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let ListDeadLettersRequest { kind, limit } = request.into_inner();
        if !matches!(kind.as_str(), "" | "output" | "classify") {
            return Err(ServiceError::InvalidArgument(format!(
                "unknown dead-letter kind {kind:?} (output or classify)"
            ))
            .into());
        }
        let mut dead_letters = Vec::new();
        if kind.is_empty() || kind == "output" {
            for dead in self
                .store
                .output_dead_letters()
                .map_err(ServiceError::internal)?
            {
                dead_letters.push(DeadLetter {
                    kind: "output".into(),
                    json: view::output_dead_letter(&dead).to_string(),
                    id: String::new(),
                });
            }
        }
        let mut truncated = false;
        if kind.is_empty() || kind == "classify" {
            let limit = match limit {
                0 => DEFAULT_DEAD_LETTER_LIMIT,
                limit => limit as usize,
            };
            let (page, more) = self
                .store
                .dead_letters_page(limit)
                .map_err(ServiceError::internal)?;
            truncated = more;
            for (id, dead) in page {
                dead_letters.push(DeadLetter {
                    kind: "classify".into(),
                    json: view::classify_dead_letter(&dead).to_string(),
                    id,
                });
            }
        }
        Ok(Response::new(ListDeadLettersResponse {
            dead_letters,
            truncated,
        }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let request = request.into_inner();
        super::audit::note(format!(
            "kind {:?}, alert {:?}, output {:?}, id {:?}",
            request.kind, request.alert_id, request.output, request.id
        ));
        if !matches!(request.kind.as_str(), "" | "output" | "classify") {
            return Err(ServiceError::InvalidArgument(format!(
                "unknown dead-letter kind {:?} (output or classify)",
                request.kind
            ))
            .into());
        }
        let mut reply = ReplayDeadLettersResponse::default();
        if request.kind.is_empty() || request.kind == "output" {
            for dead in self
                .store
                .output_dead_letters()
                .map_err(ServiceError::internal)?
            {
                if (!request.alert_id.is_empty() && dead.alert_id != request.alert_id)
                    || (!request.output.is_empty() && dead.output != request.output)
                {
                    continue;
                }
                if self
                    .store
                    .replay_output_dead_letter(&dead.alert_id, &dead.output)
                    .await
                    .map_err(ServiceError::unavailable)?
                {
                    reply.replayed += 1;
                }
            }
        }
        if request.kind.is_empty() || request.kind == "classify" {
            for (id, dead) in self.store.dead_letters().map_err(ServiceError::internal)? {
                if !request.id.is_empty() && id != request.id {
                    continue;
                }
                reply.reprocessed += 1;
                if self.reprocess(&id, dead).await? {
                    reply.classified += 1;
                }
            }
        }
        Ok(Response::new(reply))
    }

    async fn list_outputs(
        &self,
        _request: Request<ListOutputsRequest>,
    ) -> Result<Response<ListOutputsResponse>, Status> {
        let settings = self.deliverer.output_settings();
        let configured: BTreeSet<String> = self
            .deliverer
            .outputs_config()
            .outputs()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut stored: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
        for name in settings.names().map_err(ServiceError::internal)? {
            match settings.get(&name).await {
                Ok(values) => {
                    stored.insert(name.to_string(), values.unwrap_or_default());
                }
                Err(e) => {
                    stored.insert(name.to_string(), Map::new());
                    unreadable.insert(name.to_string(), format!("{e:#}"));
                }
            }
        }
        let names: BTreeSet<&String> = configured.iter().chain(stored.keys()).collect();
        let outputs = names
            .into_iter()
            .map(|name| {
                let declared_in = match (configured.contains(name), stored.contains_key(name)) {
                    (true, true) => "outputs.json, sactl",
                    (true, false) => "outputs.json",
                    _ => "sactl",
                };
                let values = stored.get(name);
                let service = name.split(':').next().unwrap_or_default();
                let missing: Vec<String> = credential_properties(service)
                    .iter()
                    .filter(|p| p.required && values.is_none_or(|v| !v.contains_key(p.name)))
                    .map(|p| p.name.to_string())
                    .collect();
                let not_deliverable = match (unreadable.get(name), &missing) {
                    (Some(why), _) => why.clone(),
                    (None, missing) if !missing.is_empty() => format!(
                        "missing {} (sactl outputs set {name} ...)",
                        missing.join(", ")
                    ),
                    _ => self.deliverer.misconfiguration(name).unwrap_or_default(),
                };
                OutputInfo {
                    name: name.clone(),
                    declared_in: declared_in.into(),
                    settings: values
                        .map(|v| v.keys().cloned().collect())
                        .unwrap_or_default(),
                    missing,
                    not_deliverable,
                }
            })
            .collect();
        Ok(Response::new(ListOutputsResponse {
            outputs,
            cipher: settings.cipher_description(),
        }))
    }

    async fn set_output(
        &self,
        request: Request<SetOutputRequest>,
    ) -> Result<Response<SetOutputResponse>, Status> {
        let request = request.into_inner();
        let name = OutputName::parse(&request.name)
            .map_err(|e| ServiceError::InvalidArgument(format!("{}: {e}", request.name)))?;
        let values: Map<String, Value> =
            serde_json::from_str(&request.settings_json).map_err(|e| {
                ServiceError::InvalidArgument(format!("settings are not a JSON object: {e}"))
            })?;
        sa_outputs::validate_settings(&name, &values)
            .map_err(|e| ServiceError::InvalidArgument(format!("{e:#}")))?;
        super::audit::note(format!(
            "{name} ({})",
            values.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.deliverer
            .output_settings()
            .set(&name, &values)
            .await
            .map_err(ServiceError::unavailable)?;
        tracing::info!(output = %name, settings = ?values.keys().collect::<Vec<_>>(), "output settings stored");
        Ok(Response::new(SetOutputResponse {}))
    }

    async fn test_output(
        &self,
        request: Request<TestOutputRequest>,
    ) -> Result<Response<TestOutputResponse>, Status> {
        let name = request.into_inner().name;
        OutputName::parse(&name)
            .map_err(|e| ServiceError::InvalidArgument(format!("{name}: {e}")))?;
        let alert = sample_alert(&name);
        let (result, reason) = match self
            .deliverer
            .deliver(&PreparedAlert::new(&alert), &name)
            .await
        {
            DeliveryOutcome::Delivered => ("delivered", String::new()),
            DeliveryOutcome::Retry { reason, .. } => ("retry", reason),
            DeliveryOutcome::Failed { reason } => ("failed", reason),
            DeliveryOutcome::Misconfigured { reason } => ("misconfigured", reason),
        };
        let reason = sa_outputs::without_response_body(&reason).to_string();
        Ok(Response::new(TestOutputResponse {
            result: result.into(),
            reason,
        }))
    }

    async fn rotate_secrets(
        &self,
        _request: Request<RotateSecretsRequest>,
    ) -> Result<Response<RotateSecretsResponse>, Status> {
        let settings = self.deliverer.output_settings();
        let resealed = settings.rotate().await.map_err(ServiceError::unavailable)?;
        let cipher = settings.cipher_description();
        tracing::info!(resealed, cipher, "output settings sealed under a new key");
        Ok(Response::new(RotateSecretsResponse {
            resealed: u32::try_from(resealed).unwrap_or(u32::MAX),
            cipher,
        }))
    }
}

impl AlertsService {
    /// Runs a dead-lettered record through the pipeline again, as from its source, under a
    /// position naming the dead letter (so a replay repeated after a crash alerts once), then
    /// forgets the old dead letter: the record is now classified or dead-lettered anew with
    /// today's reason. Returns whether it classified.
    async fn reprocess(&self, id: &str, dead: StoredDeadLetter) -> Result<bool, Status> {
        let batch = SourceBatch {
            service: dead.service.clone(),
            resource: dead.resource.clone(),
            payloads: vec![Payload::at(
                Body::text(dead.record.clone()),
                format!("replay/{id}"),
            )],
            position: None,
        };
        let report = self.node.detection.run(batch).await.map_err(|e| {
            ServiceError::Unavailable(format!("dead letter {id} not replayed: {e}"))
        })?;
        self.store
            .remove_dead_letter(id)
            .await
            .map_err(ServiceError::unavailable)?;
        Ok(report.dead_letters.is_empty())
    }
}

/// What `sactl outputs test` sends: an alert shaped like any other, clearly marked as a test.
fn sample_alert(output: &str) -> Alert {
    let record = json!({
        "message": "sa output test: if you can read this, the output works",
        "sent_by": "sactl outputs test",
    });
    Alert {
        rule_name: "sa_output_test".into(),
        alert_id: sa_rules::new_alert_id(),
        record: record.as_object().cloned().unwrap_or_default(),
        outputs: [output.to_string()].into(),
        outputs_sent: BTreeSet::new(),
        attempts: 0,
        cluster: None,
        context: Map::new(),
        created: Clock::System.now(),
        dispatched: 0,
        log_source: Some("sa:output_test".into()),
        log_type: Some("json".into()),
        merge_by_keys: Vec::new(),
        merge_window_mins: 0,
        publishers: None,
        rule_description: Some("A test alert sent by `sactl outputs test`.".into()),
        source_entity: None,
        source_service: None,
        staged: false,
        policy: Default::default(),
    }
}
