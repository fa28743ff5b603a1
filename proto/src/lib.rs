//! The wire contract between sa nodes and between `sactl` and a node: generated code, and the
//! one limit both sides must agree on.

/// The largest Admin message a node accepts and `sactl` sends or reads: a config bundle of a
/// few MB (a rule file carrying data) is over tonic's default of 4 MiB.
pub const MAX_ADMIN_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

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
