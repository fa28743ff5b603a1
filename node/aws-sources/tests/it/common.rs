//! Shared by the moto tests: a moto_server and clients with static test credentials.

#![allow(dead_code)] // the kinesis_read bench includes this file and uses part of it

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::config::Credentials;
use sa_aws_sources::SourceClients;
use sa_chaos_tests::{MOTO_REGION, MotoServer};

pub struct Moto {
    pub server: MotoServer,
    pub clients: SourceClients,
}

pub async fn moto() -> Moto {
    let server = MotoServer::start().expect("moto_server starts (deploy/local/bootstrap.sh)");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new(MOTO_REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    Moto {
        clients: SourceClients::from_sdk_config(&config, true),
        server,
    }
}
