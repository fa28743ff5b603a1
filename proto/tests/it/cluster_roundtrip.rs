//! The generated Cluster service answers over a real loopback gRPC connection.

use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_proto::cluster::v1::cluster_server::{Cluster, ClusterServer};
use sa_proto::cluster::v1::{
    CreateJoinTokenRequest, CreateJoinTokenResponse, CreateTokenRequest, CreateTokenResponse,
    JoinWithTokenRequest, JoinWithTokenResponse, NodeStatus, RemoveNodeRequest, RemoveNodeResponse,
    RevokeCertificateRequest, RevokeCertificateResponse, RevokeTokenRequest, RevokeTokenResponse,
    ShareDataKeyRequest, ShareDataKeyResponse, StatusRequest, StatusResponse,
};
use tonic::{Request, Response, Status};

struct FixedNode;

#[tonic::async_trait]
impl Cluster for FixedNode {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(StatusResponse {
            node: Some(NodeStatus {
                node_id: 42,
                advertise_addr: "127.0.0.1:1".into(),
                version: "test".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeResponse>, Status> {
        Err(Status::not_found(format!(
            "no node {}",
            request.into_inner().node_id
        )))
    }

    async fn share_data_key(
        &self,
        request: Request<ShareDataKeyRequest>,
    ) -> Result<Response<ShareDataKeyResponse>, Status> {
        Err(Status::not_found(format!(
            "no data key {}",
            request.into_inner().id
        )))
    }

    async fn create_join_token(
        &self,
        _: Request<CreateJoinTokenRequest>,
    ) -> Result<Response<CreateJoinTokenResponse>, Status> {
        Err(Status::unimplemented("not this test's"))
    }

    async fn join_with_token(
        &self,
        _: Request<JoinWithTokenRequest>,
    ) -> Result<Response<JoinWithTokenResponse>, Status> {
        Err(Status::unimplemented("not this test's"))
    }

    async fn create_token(
        &self,
        _: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        Err(Status::unimplemented("not this test's"))
    }

    async fn revoke_token(
        &self,
        _: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        Err(Status::unimplemented("not this test's"))
    }

    async fn revoke_certificate(
        &self,
        _: Request<RevokeCertificateRequest>,
    ) -> Result<Response<RevokeCertificateResponse>, Status> {
        Err(Status::unimplemented("not this test's"))
    }
}

#[tokio::test]
async fn status_round_trips_over_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ClusterServer::new(FixedNode))
            .serve_with_incoming(incoming),
    );
    let mut client = ClusterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let node = client
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .node
        .unwrap();
    assert_eq!(node.node_id, 42);
    assert_eq!(node.advertise_addr, "127.0.0.1:1");
    assert_eq!(node.version, "test");
    let err = client
        .remove_node(RemoveNodeRequest { node_id: 5 })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (tonic::Code::NotFound, "no node 5")
    );
}
