"""GuardDuty detector deleted, suspended or detached."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, PAGE_OUTPUTS

DETECTOR_REMOVAL_EVENTS = frozenset(
    (
        'DeleteDetector',
        'DisassociateFromMasterAccount',
        'DisassociateFromAdministratorAccount',
    )
)


@rule(logs=CLOUDTRAIL_LOGS, outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def cloudtrail_guardduty_disabled(rec):
    """
    author:       sa
    description:  GuardDuty was turned off in an account: the detector was deleted,
                  suspended (UpdateDetector enable=false) or detached from the administrator.
    playbook:     Re-enable the detector and review the caller's other recent calls.
    reference:    https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_suspend-disable.html
    """
    if rec['eventSource'] != 'guardduty.amazonaws.com' or rec['errorCode']:
        return False
    if rec['eventName'] in DETECTOR_REMOVAL_EVENTS:
        return True
    params = rec['requestParameters'] or {}
    return rec['eventName'] == 'UpdateDetector' and params.get('enable') is False
