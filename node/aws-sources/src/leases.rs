//! Who reads which shard: a pure plan the Raft leader recomputes on join, leave, lease expiry
//! and resharding.

use std::collections::{BTreeMap, BTreeSet};

/// Assigns every readable shard to a live node.
///
/// - Balanced: the nodes' shard counts differ by at most one.
/// - Minimal movement: a shard keeps its owner while the owner is live and not above its fair
///   share; the one-extra slots (when shards do not divide evenly) go to the nodes holding the
///   most, so the fewest shards move.
/// - Deterministic: the same inputs, in any order, give the same plan.
///
/// Shards in `current` that are not readable (finished or gone) are dropped; no live node means
/// an empty plan.
pub fn plan_leases<S, N>(
    readable_shards: &[S],
    live_nodes: &[N],
    current: &BTreeMap<S, N>,
) -> BTreeMap<S, N>
where
    S: Ord + Clone,
    N: Ord + Clone,
{
    let shards: BTreeSet<&S> = readable_shards.iter().collect();
    let nodes: BTreeSet<&N> = live_nodes.iter().collect();
    if nodes.is_empty() {
        return BTreeMap::new();
    }

    let mut held: BTreeMap<&N, Vec<&S>> = nodes.iter().map(|n| (*n, Vec::new())).collect();
    for (shard, owner) in current {
        if let (Some(shard), Some(list)) = (shards.get(shard), held.get_mut(owner)) {
            list.push(*shard);
        }
    }

    let base = shards.len() / nodes.len();
    let extra = shards.len() % nodes.len();
    let mut by_holding: Vec<&N> = nodes.iter().copied().collect();
    by_holding.sort_by(|a, b| held[b].len().cmp(&held[a].len()).then_with(|| a.cmp(b)));
    let capacity: BTreeMap<&N, usize> = by_holding
        .iter()
        .enumerate()
        .map(|(rank, node)| (*node, base + usize::from(rank < extra)))
        .collect();

    let mut plan: BTreeMap<S, N> = BTreeMap::new();
    let mut load: BTreeMap<&N, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for (node, list) in &held {
        // `list` is in shard order (BTreeMap iteration), so the kept ones are deterministic.
        for shard in list.iter().take(capacity[node]) {
            plan.insert((*shard).clone(), (*node).clone());
            *load.get_mut(node).expect("every live node has a load") += 1;
        }
    }
    for shard in shards {
        if plan.contains_key(shard) {
            continue;
        }
        let target = *load
            .iter()
            .filter(|(node, count)| **count < capacity[**node])
            .min_by(|(a, ca), (b, cb)| ca.cmp(cb).then_with(|| a.cmp(b)))
            .map(|(node, _)| node)
            .expect("capacities add up to the number of shards");
        plan.insert(shard.clone(), target.clone());
        *load.get_mut(target).expect("target is a live node") += 1;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("shardId-{i:012}")).collect()
    }

    fn counts(plan: &BTreeMap<String, u32>, nodes: &[u32]) -> Vec<usize> {
        nodes
            .iter()
            .map(|n| plan.values().filter(|o| *o == n).count())
            .collect()
    }

    fn moved(before: &BTreeMap<String, u32>, after: &BTreeMap<String, u32>) -> usize {
        after
            .iter()
            .filter(|(shard, owner)| before.get(*shard).is_some_and(|b| b != *owner))
            .count()
    }

    fn check_invariants(
        readable: &[String],
        live: &[u32],
        current: &BTreeMap<String, u32>,
        plan: &BTreeMap<String, u32>,
    ) {
        let readable_set: BTreeSet<&String> = readable.iter().collect();
        assert_eq!(plan.keys().collect::<BTreeSet<_>>(), readable_set);
        assert!(plan.values().all(|o| live.contains(o)), "{plan:?}");
        let c = counts(plan, live);
        let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
        assert!(hi - lo <= 1, "unbalanced {c:?}");
        // whoever is at or under the floor keeps everything it had
        let floor = readable.len() / live.len();
        for node in live {
            let had: Vec<&String> = current
                .iter()
                .filter(|(s, o)| *o == node && readable_set.contains(s))
                .map(|(s, _)| s)
                .collect();
            if had.len() <= floor {
                assert!(
                    had.iter().all(|s| plan[*s] == *node),
                    "node {node} lost a lease"
                );
            }
        }
    }

    /// The fewest moves any balanced plan needs, by brute force over every assignment.
    fn brute_force_min_moves(
        readable: &[String],
        live: &[u32],
        current: &BTreeMap<String, u32>,
    ) -> usize {
        let mut best = usize::MAX;
        let total = live.len().pow(readable.len() as u32);
        for code in 0..total {
            let mut rest = code;
            let mut plan = BTreeMap::new();
            for shard in readable {
                plan.insert(shard.clone(), live[rest % live.len()]);
                rest /= live.len();
            }
            let c = counts(&plan, live);
            if c.iter().max().unwrap() - c.iter().min().unwrap() <= 1 {
                best = best.min(moved(current, &plan));
            }
        }
        best
    }

    #[test]
    fn spreads_four_shards_over_three_nodes() {
        let plan = plan_leases(&shards(4), &[1, 2, 3], &BTreeMap::new());
        let mut c = counts(&plan, &[1, 2, 3]);
        c.sort();
        assert_eq!(c, vec![1, 1, 2]);
    }

    #[test]
    fn a_dead_nodes_shards_move_and_nothing_else_does() {
        let all = shards(6);
        let before = plan_leases(&all, &[1, 2, 3], &BTreeMap::new());
        let after = plan_leases(&all, &[1, 3], &before);
        check_invariants(&all, &[1, 3], &before, &after);
        for (shard, owner) in &before {
            if *owner != 2 {
                assert_eq!(after[shard], *owner);
            }
        }
    }

    #[test]
    fn a_joining_node_takes_only_its_share() {
        let all = shards(6);
        let before = plan_leases(&all, &[1, 2], &BTreeMap::new());
        let after = plan_leases(&all, &[1, 2, 3], &before);
        assert_eq!(moved(&before, &after), 2);
        assert_eq!(counts(&after, &[1, 2, 3]), vec![2, 2, 2]);
    }

    #[test]
    fn no_live_nodes_means_no_leases() {
        let current: BTreeMap<String, u32> = [(shards(1)[0].clone(), 1)].into();
        assert!(plan_leases(&shards(3), &[] as &[u32], &current).is_empty());
    }

    #[test]
    fn random_inputs_keep_every_invariant_and_move_as_little_as_brute_force() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..400 {
            let shard_count = rng.usize(0..=6);
            let node_count = rng.usize(1..=3);
            let all = shards(shard_count + 2);
            let readable: Vec<String> = all[..shard_count].to_vec();
            let live: Vec<u32> = (1..=node_count as u32).collect();
            // current owners include dead nodes (4, 5) and shards no longer readable
            let mut current = BTreeMap::new();
            for shard in &all {
                if rng.bool() {
                    current.insert(shard.clone(), rng.u32(1..=5));
                }
            }
            let plan = plan_leases(&readable, &live, &current);
            check_invariants(&readable, &live, &current, &plan);
            assert_eq!(
                moved(&current, &plan),
                brute_force_min_moves(&readable, &live, &current),
                "readable {readable:?} live {live:?} current {current:?} plan {plan:?}"
            );
            // deterministic whatever the input order, and stable when replanned
            let mut shuffled_shards = readable.clone();
            rng.shuffle(&mut shuffled_shards);
            let mut shuffled_nodes = live.clone();
            rng.shuffle(&mut shuffled_nodes);
            assert_eq!(
                plan_leases(&shuffled_shards, &shuffled_nodes, &current),
                plan
            );
            assert_eq!(plan_leases(&readable, &live, &plan), plan);
        }
    }
}
