//! Candidate log-type ordering (docs/spec §3.6).

/// Orders log types the way StreamAlert does: a stable sort whose key is the type's own
/// `priority`, or, for a type without one, the largest priority seen before it in merge order
/// (−1 when none was). Input and output are in merge order / sorted order respectively.
pub fn sort_by_priority<T>(merged: Vec<(T, Option<u64>)>) -> Vec<T> {
    let mut max_seen: i128 = -1;
    let mut keyed: Vec<(i128, T)> = merged
        .into_iter()
        .map(|(item, priority)| {
            let key = match priority {
                Some(p) => {
                    max_seen = max_seen.max(i128::from(p));
                    i128::from(p)
                }
                None => max_seen,
            };
            (key, item)
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, item)| item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprioritized_types_inherit_the_largest_priority_seen_before_them() {
        // The worked example of docs/spec §3.6: A, B(2), C, D(0), E, F(5), G sorts to A, D, B, C, E, F, G.
        let merged = vec![
            ("A", None),
            ("B", Some(2)),
            ("C", None),
            ("D", Some(0)),
            ("E", None),
            ("F", Some(5)),
            ("G", None),
        ];
        assert_eq!(
            sort_by_priority(merged),
            vec!["A", "D", "B", "C", "E", "F", "G"]
        );
    }

    #[test]
    fn without_any_priority_merge_order_is_kept() {
        let merged = vec![("z", None), ("a", None), ("m", None)];
        assert_eq!(sort_by_priority(merged), vec!["z", "a", "m"]);
    }
}
