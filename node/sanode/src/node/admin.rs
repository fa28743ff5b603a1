//! The Admin gRPC service: config bundles, the rule table and lookup tables.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sa_proto::admin::v1::admin_server::Admin;
use sa_proto::admin::v1::{
    AuditRecord, ChangeRulesRequest, ChangeRulesResponse, ListAuditRequest, ListAuditResponse,
    ListRulesRequest, ListRulesResponse, RuleChange as ProtoRuleChange, RuleState,
};
use sa_proto::admin::v1::{
    GetConfigRequest, GetConfigResponse, GetLookupValueRequest, GetLookupValueResponse,
    ListLookupTablesRequest, ListLookupTablesResponse, LookupTableInfo, PushConfigRequest,
    PushConfigResponse, PutLookupValuesRequest, PutLookupValuesResponse,
};
use sa_rules::Clock;
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::NodeContext;
use super::audit;
use super::bundle_check;
use super::service_error::ServiceError;
use sa_repository::bundle::ConfigBundle;
use sa_state::{
    AlertStore, AuditLog, DEFAULT_STAGING, ReplaceLoad, RuleChange, RuleRow, RuleTableRefusal,
    SyncRequest,
};

/// A refusal of the caller's request is an invalid argument; anything else (no leader, the
/// replica unreadable) may pass.
fn refused_or_unavailable(e: anyhow::Error) -> ServiceError {
    if e.downcast_ref::<RuleTableRefusal>().is_some() {
        ServiceError::InvalidArgument(format!("{e:#}"))
    } else {
        ServiceError::Unavailable(format!("{e:#}"))
    }
}

fn rule_state(
    row: Option<&RuleRow>,
    name: &str,
    in_config: bool,
    alerts: &AlertStore,
) -> Result<RuleState, ServiceError> {
    let staged_alerts = match row.and_then(RuleRow::staged_window) {
        Some((staged_at, _)) => alerts
            .alerts_since(name, staged_at, usize::MAX)
            .map_err(ServiceError::internal)? as u64,
        None => 0,
    };
    Ok(RuleState {
        name: name.to_owned(),
        staged: row.is_some_and(|row| row.staged),
        staged_at: row
            .and_then(|row| row.staged_at.clone())
            .unwrap_or_default(),
        staged_until: row
            .and_then(|row| row.staged_until.clone())
            .unwrap_or_default(),
        disabled: row.is_some_and(|row| row.disabled),
        staged_alerts,
        in_config,
    })
}

pub struct AdminService {
    pub node: Arc<NodeContext>,
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn push_config(
        &self,
        request: Request<PushConfigRequest>,
    ) -> Result<Response<PushConfigResponse>, Status> {
        let request = request.into_inner();
        let bundle: ConfigBundle = serde_json::from_slice(&request.bundle).map_err(|e| {
            ServiceError::InvalidArgument(format!("undecodable config bundle: {e}"))
        })?;
        let summary = bundle_check::validate(
            &self.node.data_dir,
            &bundle,
            self.node.bundle_check,
            &self.node.python_env,
        )
        .await
        .map_err(|e| ServiceError::InvalidArgument(format!("config bundle refused:\n{e:#}")))?;
        let rules: BTreeSet<String> = summary.rules.into_iter().collect();
        let sync = SyncRequest {
            stage_new: summary.rule_staging && !request.skip_rule_staging,
            stage: request.stage_rules,
            unstage: request.unstage_rules,
        };
        let table = &self.node.rules;
        // Checked once up front: a rule the bundle lacks is the caller's mistake, not a race.
        table
            .sync_write(&rules, &sync, Clock::System.now())
            .map_err(refused_or_unavailable)?;
        let staged = Mutex::new(Vec::new());
        let checksum = bundle.checksum();
        audit::note(format!("bundle {checksum}, {} rules", rules.len()));
        let version = self
            .node
            .configs
            .push(bundle, || {
                let write = table.sync_write(&rules, &sync, Clock::System.now())?;
                *staged.lock().expect("staged rules lock") = write.staged;
                Ok((write.conditions, write.ops))
            })
            .await
            .map_err(|e| ServiceError::Unavailable(format!("{e:#}")))?;
        let staged_rules = staged.into_inner().expect("staged rules lock");
        tracing::info!(version, %checksum, staged = ?staged_rules, "config bundle pushed");
        Ok(Response::new(PushConfigResponse {
            version,
            checksum,
            staged_rules,
        }))
    }

    async fn get_config(
        &self,
        request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        let version = request.into_inner().version;
        let bundle = self
            .node
            .configs
            .get(version)
            .map_err(ServiceError::internal)?;
        let bytes = match bundle {
            Some(bundle) => {
                serde_json::to_vec(&bundle).map_err(|e| ServiceError::internal(e.into()))?
            }
            None if version == 0 => Vec::new(),
            None => {
                return Err(ServiceError::NotFound(format!("no config bundle v{version}")).into());
            }
        };
        Ok(Response::new(GetConfigResponse { bundle: bytes }))
    }

    async fn list_lookup_tables(
        &self,
        _: Request<ListLookupTablesRequest>,
    ) -> Result<Response<ListLookupTablesResponse>, Status> {
        let tables = self.node.lookups.tables().map_err(ServiceError::internal)?;
        Ok(Response::new(ListLookupTablesResponse {
            tables: tables
                .into_iter()
                .map(|(name, keys)| LookupTableInfo { name, keys })
                .collect(),
        }))
    }

    async fn get_lookup_value(
        &self,
        request: Request<GetLookupValueRequest>,
    ) -> Result<Response<GetLookupValueResponse>, Status> {
        let request = request.into_inner();
        let value = self
            .node
            .lookups
            .value(&request.table, &request.key)
            .map_err(ServiceError::internal)?;
        Ok(Response::new(GetLookupValueResponse {
            found: value.is_some(),
            value_json: value.map(|v| v.to_string()).unwrap_or_default(),
        }))
    }

    async fn put_lookup_values(
        &self,
        request: Request<PutLookupValuesRequest>,
    ) -> Result<Response<PutLookupValuesResponse>, Status> {
        let request = request.into_inner();
        audit::note(format!(
            "table {}: {} entries{}",
            request.table,
            request.entries.len(),
            if request.replace { ", replacing" } else { "" }
        ));
        let entries = request
            .entries
            .into_iter()
            .map(|entry| {
                let value: Value = serde_json::from_str(&entry.value_json).map_err(|e| {
                    ServiceError::InvalidArgument(format!(
                        "{}/{}: value is not JSON: {e}",
                        request.table, entry.key
                    ))
                })?;
                Ok((entry.key, value))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let lookups = &self.node.lookups;
        let unavailable = |e: anyhow::Error| ServiceError::Unavailable(format!("{e:#}"));
        let load = if !request.load.is_empty() {
            Some(
                ReplaceLoad::from_token(&request.table, &request.load)
                    .map_err(|e| ServiceError::InvalidArgument(format!("{e:#}")))?,
            )
        } else if request.replace && request.more {
            Some(
                lookups
                    .begin_replace(&request.table)
                    .map_err(|e| ServiceError::InvalidArgument(format!("{e:#}")))?,
            )
        } else {
            None
        };
        let Some(load) = load else {
            let written = lookups
                .put(&request.table, entries, request.replace)
                .await
                .map_err(unavailable)?;
            return Ok(Response::new(PutLookupValuesResponse {
                written,
                load: String::new(),
            }));
        };
        let written = lookups
            .write_load(&load, entries)
            .await
            .map_err(unavailable)?;
        let load = if request.more {
            load.token()
        } else {
            lookups.finish_replace(&load).await.map_err(unavailable)?;
            String::new()
        };
        Ok(Response::new(PutLookupValuesResponse { written, load }))
    }

    async fn list_rules(
        &self,
        _: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        let running = self.node.detection.rule_names();
        let rows = self.node.rules.rows().map_err(ServiceError::internal)?;
        let names: BTreeSet<&String> = running.iter().chain(rows.keys()).collect();
        let rules = names
            .into_iter()
            .map(|name| {
                rule_state(
                    rows.get(name),
                    name,
                    running.contains(name),
                    &self.node.alerts,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListRulesResponse {
            staging_enabled: self.node.detection.rule_staging(),
            promotion_enabled: self.node.detection.rule_promotion(),
            rules,
        }))
    }

    async fn change_rules(
        &self,
        request: Request<ChangeRulesRequest>,
    ) -> Result<Response<ChangeRulesResponse>, Status> {
        let request = request.into_inner();
        let change = match ProtoRuleChange::try_from(request.change) {
            Ok(ProtoRuleChange::Stage) => RuleChange::Stage(match request.staged_for_seconds {
                0 => DEFAULT_STAGING,
                seconds => Duration::from_secs(seconds),
            }),
            Ok(ProtoRuleChange::Unstage) => RuleChange::Unstage,
            Ok(ProtoRuleChange::Disable) => RuleChange::Disable,
            Ok(ProtoRuleChange::Enable) => RuleChange::Enable,
            Ok(ProtoRuleChange::Unspecified) | Err(_) => {
                return Err(ServiceError::InvalidArgument(format!(
                    "unknown rule change {}",
                    request.change
                ))
                .into());
            }
        };
        audit::note(format!("{change:?}: {}", request.rules.join(", ")));
        let running = self.node.detection.rule_names();
        if let RuleChange::Stage(period) = change
            && period > self.node.alert_retention
        {
            return Err(ServiceError::InvalidArgument(format!(
                "a staging window of {} outlasts the alert retention ({}): alerts older than \
                 the retention would no longer keep the rule staged",
                humantime::format_duration(period),
                humantime::format_duration(self.node.alert_retention)
            ))
            .into());
        }
        let rows = self
            .node
            .rules
            .change(&request.rules, change, &running, Clock::System.now())
            .await
            .map_err(refused_or_unavailable)?;
        tracing::info!(?change, rules = ?request.rules, "rule table changed");
        let rules = rows
            .iter()
            .map(|row| {
                rule_state(
                    Some(row),
                    &row.name,
                    running.contains(&row.name),
                    &self.node.alerts,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ChangeRulesResponse {
            rules,
            staging_enabled: self.node.detection.rule_staging(),
        }))
    }

    async fn list_audit(
        &self,
        request: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditResponse>, Status> {
        let request = request.into_inner();
        let log = AuditLog::new(self.node.replica.clone());
        // Reading the trail is RocksDB work: off the async runtime.
        let entries = tokio::task::spawn_blocking(move || {
            let who = Some(request.who.as_str()).filter(|who| !who.is_empty());
            log.list(request.since_micros, who)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("audit listing: {e}")))?
        .map_err(ServiceError::internal)?
        .into_iter()
        .map(|entry| AuditRecord {
            who: entry.who,
            role: entry.role,
            from: entry.from,
            action: entry.action,
            summary: entry.summary,
            result: entry.result,
            at_micros: entry.at,
            node: entry.node,
        })
        .collect();
        Ok(Response::new(ListAuditResponse { entries }))
    }
}
