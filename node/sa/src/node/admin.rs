//! The Admin gRPC service: config bundles and lookup tables.

use std::sync::Arc;

use sa_proto::admin::v1::admin_server::Admin;
use sa_proto::admin::v1::{
    GetConfigRequest, GetConfigResponse, GetLookupValueRequest, GetLookupValueResponse,
    ListLookupTablesRequest, ListLookupTablesResponse, LookupTableInfo, PushConfigRequest,
    PushConfigResponse, PutLookupValuesRequest, PutLookupValuesResponse,
};
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::NodeContext;
use super::bundle_check;
use crate::bundle::ConfigBundle;

pub struct AdminService {
    pub node: Arc<NodeContext>,
}

fn internal(e: anyhow::Error) -> Status {
    Status::internal(format!("{e:#}"))
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn push_config(
        &self,
        request: Request<PushConfigRequest>,
    ) -> Result<Response<PushConfigResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Admin/PushConfig"])
            .inc();
        let bundle: ConfigBundle = serde_json::from_slice(&request.into_inner().bundle)
            .map_err(|e| Status::invalid_argument(format!("undecodable config bundle: {e}")))?;
        bundle_check::validate(&self.node.data_dir, &bundle)
            .await
            .map_err(|e| Status::invalid_argument(format!("config bundle refused:\n{e:#}")))?;
        let checksum = bundle.checksum();
        let version = self
            .node
            .configs
            .push(bundle)
            .await
            .map_err(|e| Status::unavailable(format!("{e:#}")))?;
        tracing::info!(version, %checksum, "config bundle pushed");
        Ok(Response::new(PushConfigResponse { version, checksum }))
    }

    async fn get_config(
        &self,
        request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Admin/GetConfig"])
            .inc();
        let version = request.into_inner().version;
        let bundle = self.node.configs.get(version).map_err(internal)?;
        let bytes = match bundle {
            Some(bundle) => serde_json::to_vec(&bundle).map_err(|e| internal(e.into()))?,
            None if version == 0 => Vec::new(),
            None => return Err(Status::not_found(format!("no config bundle v{version}"))),
        };
        Ok(Response::new(GetConfigResponse { bundle: bytes }))
    }

    async fn list_lookup_tables(
        &self,
        _: Request<ListLookupTablesRequest>,
    ) -> Result<Response<ListLookupTablesResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Admin/ListLookupTables"])
            .inc();
        let tables = self.node.lookups.tables().map_err(internal)?;
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
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Admin/GetLookupValue"])
            .inc();
        let request = request.into_inner();
        let value = self
            .node
            .lookups
            .value(&request.table, &request.key)
            .map_err(internal)?;
        Ok(Response::new(GetLookupValueResponse {
            found: value.is_some(),
            value_json: value.map(|v| v.to_string()).unwrap_or_default(),
        }))
    }

    async fn put_lookup_values(
        &self,
        request: Request<PutLookupValuesRequest>,
    ) -> Result<Response<PutLookupValuesResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Admin/PutLookupValues"])
            .inc();
        let request = request.into_inner();
        let entries = request
            .entries
            .into_iter()
            .map(|entry| {
                let value: Value = serde_json::from_str(&entry.value_json).map_err(|e| {
                    Status::invalid_argument(format!(
                        "{}/{}: value is not JSON: {e}",
                        request.table, entry.key
                    ))
                })?;
                Ok((entry.key, value))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let written = self
            .node
            .lookups
            .put(&request.table, entries, request.replace)
            .await
            .map_err(|e| Status::unavailable(format!("{e:#}")))?;
        Ok(Response::new(PutLookupValuesResponse { written }))
    }
}
