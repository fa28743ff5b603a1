"""An Okta user reported a sign-in or MFA push they did not make."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS

FRAUD_REPORT_EVENTS = frozenset(
    (
        'user.account.report_suspicious_activity_by_enduser',
        'user.mfa.okta_verify.deny_push',
    )
)


@rule(
    logs=['okta:systemlog'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['alternateId'],
    merge_window_mins=30,
)
def okta_suspicious_activity_reported(rec):
    """
    author:       sa
    description:  A user reported suspicious activity on their Okta account or denied an
                  Okta Verify push they did not request: someone likely holds their password.
    playbook:     (a) Reset the user's password and sessions. (b) Look up the source of the
                  denied push (client.ipAddress) in other logs.
    reference:    https://help.okta.com/en-us/content/topics/security/suspicious-activity-reporting.htm
    """
    return rec['eventType'] in FRAUD_REPORT_EVENTS
