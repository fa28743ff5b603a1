"""KMS customer key disabled or scheduled for deletion."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, PAGE_OUTPUTS


@rule(logs=CLOUDTRAIL_LOGS, outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def cloudtrail_kms_key_disabled_or_deleted(rec):
    """
    author:       sa
    description:  A KMS key was disabled or scheduled for deletion. Everything encrypted
                  under it becomes unreadable; ransomware in AWS works this way.
    playbook:     Cancel the deletion (aws kms cancel-key-deletion) or re-enable the key
                  within the waiting period, then find out who asked for it.
    reference:    https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html
    """
    return (
        rec['eventSource'] == 'kms.amazonaws.com'
        and rec['eventName'] in ('ScheduleKeyDeletion', 'DisableKey')
        and not rec['errorCode']
    )
