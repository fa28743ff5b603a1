"""Console sign-in that succeeded without MFA."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, REVIEW_OUTPUTS


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'additionalEventData': ['MFAUsed'], 'responseElements': ['ConsoleLogin']},
    merge_by_keys=['userIdentity'],
    merge_window_mins=60,
)
def cloudtrail_console_login_without_mfa(rec):
    """
    author:       sa
    description:  An IAM user or root signed in to the AWS console successfully without MFA.
                  Federated (SAML/SSO) sign-ins enforce MFA at the identity provider and
                  are ignored.
    playbook:     (a) Contact the user; enforce an MFA device on the account.
                  (b) Attach a policy denying actions when aws:MultiFactorAuthPresent is false.
    reference:    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html
    """
    return (
        rec['eventName'] == 'ConsoleLogin'
        and rec['additionalEventData']['MFAUsed'] == 'No'
        and rec['responseElements']['ConsoleLogin'] == 'Success'
        and rec['userIdentity'].get('type') in ('IAMUser', 'Root')
    )
