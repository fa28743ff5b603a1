"""MFA device deactivated or deleted."""

from streamalert.shared.rule import rule

from rules.helpers.base import CLOUDTRAIL_LOGS, REVIEW_OUTPUTS


@rule(
    logs=CLOUDTRAIL_LOGS, outputs=REVIEW_OUTPUTS, merge_by_keys=['userName'], merge_window_mins=30
)
def cloudtrail_mfa_device_removed(rec):
    """
    author:       sa
    description:  An IAM user's MFA device was deactivated or a virtual MFA device deleted.
    playbook:     Confirm with the user (device replaced?); otherwise re-enrol and review the
                  caller's activity.
    reference:    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_disable.html
    """
    return (
        rec['eventSource'] == 'iam.amazonaws.com'
        and rec['eventName'] in ('DeactivateMFADevice', 'DeleteVirtualMFADevice')
        and not rec['errorCode']
    )
