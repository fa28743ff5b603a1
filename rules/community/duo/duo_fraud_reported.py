"""Duo push marked as fraudulent by the user."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS


@rule(
    logs=['duo:authentication'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['user'],
    merge_window_mins=30,
)
def duo_fraud_reported(rec):
    """
    author:       sa
    description:  A user answered a Duo push with "this was not me" (result fraud): their
                  first factor is in someone else's hands.
    playbook:     Reset the user's password, revoke sessions, and check the attempt's source
                  (access_device.ip) against VPN and SSO logs.
    reference:    https://duo.com/docs/adminapi#authentication-logs
    """
    return rec['result'] == 'fraud'
