"""Palo Alto firewall threat log of high or critical severity that was let through."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

ALLOWED_ACTIONS = frozenset(('alert', 'allow'))


@rule(
    logs=['pan:threat'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['threatid', 'src'],
    merge_window_mins=30,
)
def panos_critical_threat(rec):
    """
    author:       sa
    description:  A PAN-OS threat log (vulnerability, spyware, virus) of severity critical or
                  high whose action only alerted: the traffic reached its target.
    playbook:     Check the destination (dst) for the threat named in threatid; move the
                  profile to block if the signature is reliable.
    reference:    https://docs.paloaltonetworks.com/pan-os/11-0/pan-os-admin/monitoring/use-syslog-for-monitoring/syslog-field-descriptions/threat-log-fields
    """
    return rec['severity'] in ('critical', 'high') and rec['action'] in ALLOWED_ACTIONS
