"""Use of the AWS root account."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, PAGE_OUTPUTS


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'userIdentity': ['type']},
    merge_by_keys=['sourceIPAddress', 'recipientAccountId'],
    merge_window_mins=15,
)
def cloudtrail_root_account_usage(rec):
    """
    author:       sa
    description:  The AWS root account made an API call or signed in. Root bypasses IAM
                  policies and should be locked away; AWS's own calls on its behalf are ignored.
    playbook:     (a) Ask the root credential custodians whether this was planned.
                  (b) If not: rotate the root password, check its MFA device and review every
                  call from sourceIPAddress.
    reference:    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html
    """
    identity = rec['userIdentity']
    return (
        identity['type'] == 'Root'
        and not identity.get('invokedBy')
        and rec['eventType'] != 'AwsServiceEvent'
    )
