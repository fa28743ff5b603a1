//! What a healthy node is, for `GET /healthz` and the systemd watchdog (systemd.rs): its Raft
//! core runs. openraft stops the core for good on a storage error or any other fatal one (its
//! metrics then hold the error); the node would go on answering HTTP but could neither commit
//! nor follow the cluster, and only a restart brings it back. Whether the node is a member or
//! has a leader is not health: a follower cut off from the others recovers by itself once the
//! network does, and restarting it would not help.

use sa_raft::Replica;

pub fn check(replica: &Replica) -> Result<(), String> {
    match &replica.raft().metrics().borrow().running_state {
        Ok(()) => Ok(()),
        Err(fatal) => Err(format!("the Raft core has stopped: {fatal}")),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_node_is_unhealthy_once_its_raft_core_stops() {
        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        assert_eq!(super::check(&replica), Ok(()));
        replica.shutdown().await;
        let reason = super::check(&replica).unwrap_err();
        assert!(reason.contains("the Raft core has stopped"), "{reason}");
    }
}
