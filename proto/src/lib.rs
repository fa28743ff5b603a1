//! The wire contract between sa nodes and between `sactl` and a node. Generated code only.

pub mod admin {
    pub mod v1 {
        tonic::include_proto!("sa.admin.v1");
    }
}

pub mod alerts {
    pub mod v1 {
        tonic::include_proto!("sa.alerts.v1");
    }
}

pub mod cluster {
    pub mod v1 {
        tonic::include_proto!("sa.cluster.v1");
    }
}

pub mod ingest {
    pub mod v1 {
        tonic::include_proto!("sa.ingest.v1");
    }
}

pub mod raft {
    pub mod v1 {
        tonic::include_proto!("sa.raft.v1");
    }
}
