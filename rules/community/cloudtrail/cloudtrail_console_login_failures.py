"""Failed AWS console sign-ins, merged per user into one alert."""

from streamalert.shared.rule import rule

from rules.helpers.base import CLOUDTRAIL_LOGS, REVIEW_OUTPUTS


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    req_subkeys={'responseElements': ['ConsoleLogin']},
    merge_by_keys=['userIdentity', 'sourceIPAddress'],
    merge_window_mins=30,
)
def cloudtrail_console_login_failures(rec):
    """
    author:       sa
    description:  An AWS console sign-in failed. Failures are merged per user and source IP
                  over 30 minutes, so a password-guessing run shows as one alert with a count.
    playbook:     A high AlertCount from one IP: block the IP and check the account's MFA.
    reference:    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html
    """
    return (
        rec['eventName'] == 'ConsoleLogin' and rec['responseElements']['ConsoleLogin'] == 'Failure'
    )
