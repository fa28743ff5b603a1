"""High-severity GuardDuty finding."""
from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS
from rules.matchers.aws import guard_duty_finding, guard_duty_not_archived

# GuardDuty's own bands: 7.0-8.9 high, 9.0-10.0 critical.
HIGH_SEVERITY = 7.0


@rule(
    logs=['cloudwatch:events'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    matchers=[guard_duty_finding, guard_duty_not_archived],
    req_subkeys={'detail': ['severity', 'type']},
    merge_by_keys=['type', 'account'],
    merge_window_mins=60,
    context={'severity': 'critical'},
)
def guardduty_high_severity_finding(rec, context):
    """
    author:       sa
    description:  GuardDuty reported a finding of high or critical severity (>= 7.0) that
                  nobody archived. Repeats of one finding type in one account are merged.
    playbook:     Follow the finding type's remediation guide; isolate the resource named in
                  detail.resource first.
    reference:    https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html
    """
    severity = float(rec['detail']['severity'] or 0)
    if severity < 9.0:
        context['severity'] = 'error'
    return severity >= HIGH_SEVERITY
