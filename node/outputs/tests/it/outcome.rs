//! Assertions on a delivery's outcome, shared by the output tests. Each panics with the whole
//! outcome, at the caller's line, when it is not the one expected.

use sa_outputs::DeliveryOutcome;

#[track_caller]
pub fn assert_delivered(outcome: &DeliveryOutcome) {
    assert_eq!(outcome, &DeliveryOutcome::Delivered);
}

/// Asserts the delivery is to be retried, for a reason that contains every one of `words`;
/// returns the reason.
#[track_caller]
pub fn assert_retry<'a>(outcome: &'a DeliveryOutcome, words: &[&str]) -> &'a str {
    match outcome {
        DeliveryOutcome::Retry { reason, .. } if contains_all(reason, words) => reason,
        other => panic!("expected Retry naming {words:?}: {other:?}"),
    }
}

/// Asserts the delivery failed for good, for a reason that contains every one of `words`;
/// returns the reason.
#[track_caller]
pub fn assert_failed<'a>(outcome: &'a DeliveryOutcome, words: &[&str]) -> &'a str {
    match outcome {
        DeliveryOutcome::Failed { reason } if contains_all(reason, words) => reason,
        other => panic!("expected Failed naming {words:?}: {other:?}"),
    }
}

/// Asserts the output cannot work until its configuration is fixed, for a reason that contains
/// every one of `words`; returns the reason.
#[track_caller]
pub fn assert_misconfigured<'a>(outcome: &'a DeliveryOutcome, words: &[&str]) -> &'a str {
    match outcome {
        DeliveryOutcome::Misconfigured { reason } if contains_all(reason, words) => reason,
        other => panic!("expected Misconfigured naming {words:?}: {other:?}"),
    }
}

fn contains_all(reason: &str, words: &[&str]) -> bool {
    words.iter().all(|word| reason.contains(word))
}
