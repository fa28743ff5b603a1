"""Windows Security event log cleared (event 1102)."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS

AUDIT_LOG_CLEARED = 1102


@rule(logs=['windows:security'], outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def windows_security_log_cleared(rec):
    """
    author:       sa
    description:  Someone cleared the Security event log of a Windows host: intruders do it
                  to erase their logons; administrators almost never need to.
    playbook:     Find who (EventData.SubjectUserName) and from which session; pull the
                  host's EDR timeline for the hour before.
    reference:    https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-1102
    """
    return rec['EventID'] == AUDIT_LOG_CLEARED
