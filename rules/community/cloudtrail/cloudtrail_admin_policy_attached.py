"""AdministratorAccess attached to a user, group or role."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, REVIEW_OUTPUTS

ATTACH_EVENTS = frozenset(('AttachUserPolicy', 'AttachGroupPolicy', 'AttachRolePolicy'))
ADMIN_POLICY_ARN = 'arn:aws:iam::aws:policy/AdministratorAccess'


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'requestParameters': ['policyArn']},
)
def cloudtrail_admin_policy_attached(rec):
    """
    author:       sa
    description:  The AWS-managed AdministratorAccess policy was attached to an IAM principal.
    playbook:     Confirm a change ticket exists; prefer a scoped role assumed on demand.
    reference:    https://attack.mitre.org/techniques/T1098/
    """
    return (
        rec['eventName'] in ATTACH_EVENTS
        and not rec['errorCode']
        and rec['requestParameters']['policyArn'] == ADMIN_POLICY_ARN
    )
