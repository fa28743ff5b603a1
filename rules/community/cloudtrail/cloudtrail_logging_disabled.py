"""CloudTrail trail stopped, deleted or stripped of its logging."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, PAGE_OUTPUTS

TRAIL_TAMPERING_EVENTS = frozenset(('StopLogging', 'DeleteTrail'))


@rule(logs=CLOUDTRAIL_LOGS, outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def cloudtrail_logging_disabled(rec):
    """
    author:       sa
    description:  A CloudTrail trail was stopped or deleted, or an update removed its
                  multi-region coverage. Attackers do this first to hide what follows.
    playbook:     (a) Re-enable the trail (aws cloudtrail start-logging --name <trail>).
                  (b) Treat the caller's credentials as compromised until explained.
    reference:    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html
    """
    if rec['eventSource'] != 'cloudtrail.amazonaws.com' or rec['errorCode']:
        return False
    if rec['eventName'] in TRAIL_TAMPERING_EVENTS:
        return True
    params = rec['requestParameters'] or {}
    return rec['eventName'] == 'UpdateTrail' and params.get('isMultiRegionTrail') is False
