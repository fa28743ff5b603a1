//! Shared by the moto tests: a moto_server and clients with static test credentials.

#![allow(dead_code)] // the kinesis_read bench includes this file and uses part of it

use sa_aws_sources::SourceClients;
use sa_chaos_tests::MotoServer;
use sa_chaos_tests::aws_sources::moto_clients;

pub struct Moto {
    pub server: MotoServer,
    pub clients: SourceClients,
}

pub async fn moto() -> Moto {
    let server = MotoServer::start().expect("moto_server starts (deploy/local/bootstrap.sh)");
    Moto {
        clients: moto_clients(&server).await,
        server,
    }
}
