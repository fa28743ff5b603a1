//! Membership with real processes: a cluster forms by joining, survives kill -9 of its leader,
//! takes the killed node back, and removes a node on request.

use std::time::Duration;

use sa_chaos_tests::TestCluster;

#[test]
fn three_nodes_join_elect_one_leader_and_survive_a_leader_kill() {
    let mut cluster = TestCluster::start(3).unwrap();

    let members = cluster.members(2).unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    let leaders = members.iter().filter(|m| m["role"] == "leader").count();
    assert_eq!(leaders, 1, "{members:?}");
    for member in &members {
        assert!(member["applied_index"].as_u64().unwrap() > 0, "{member}");
        assert_eq!(member["config_version"], 0);
    }

    let old_leader = cluster.leader().unwrap();
    let old_term = cluster.status(old_leader).unwrap()["term"]
        .as_u64()
        .unwrap();
    cluster.kill9(old_leader).unwrap();
    let survivor = (0..3).find(|i| *i != old_leader).unwrap();
    cluster
        .wait_until(Duration::from_secs(20), "a new leader is elected", |c| {
            c.leader().is_some_and(|l| l != old_leader)
        })
        .unwrap();
    let new_status = cluster.status(survivor).unwrap();
    assert!(
        new_status["term"].as_u64().unwrap() > old_term,
        "{new_status}"
    );

    cluster.restart(old_leader).unwrap();
    cluster
        .wait_until(
            Duration::from_secs(30),
            "the restarted node is a healthy follower again",
            |c| {
                c.members(survivor).is_ok_and(|members| {
                    members.iter().all(|m| m["healthy"] == true)
                        && members.iter().filter(|m| m["role"] == "leader").count() == 1
                })
            },
        )
        .unwrap();
    let rejoined = cluster.status(old_leader).unwrap();
    assert_ne!(rejoined["role"], "leader", "{rejoined}");
    assert_eq!(rejoined["members"], 3);
}

#[test]
fn remove_node_shrinks_the_membership() {
    let cluster = TestCluster::start(3).unwrap();
    let removed_id = cluster.status(2).unwrap()["node_id"].as_u64().unwrap();
    let out = cluster.sactl(1, &["remove-node", &removed_id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    cluster
        .wait_until(Duration::from_secs(20), "membership has two nodes", |c| {
            c.members(0)
                .is_ok_and(|m| m.len() == 2 && m.iter().all(|n| n["id"] != removed_id))
        })
        .unwrap();
    let again = cluster.sactl(0, &["remove-node", &removed_id.to_string()]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not a member"),
        "{again:?}"
    );
}
