"""High-severity GuardDuty finding."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS
from rules.matchers.aws import finding_of, guard_duty_finding, guard_duty_not_archived

# GuardDuty's own bands: 7.0-8.9 high, 9.0-10.0 critical.
HIGH_SEVERITY = 7.0
CRITICAL_SEVERITY = 9.0


@rule(
    logs=['cloudwatch:events', 'guardduty:finding'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    matchers=[guard_duty_finding, guard_duty_not_archived],
    merge_by_keys=['type', 'resourceType'],
    merge_window_mins=60,
    context={'severity': 'critical'},
)
def guardduty_high_severity_finding(rec, context):
    """
    author:       sa
    description:  GuardDuty reported a finding of high or critical severity (>= 7.0) that
                  nobody archived, delivered by EventBridge or exported to S3. Repeats of
                  one finding type on one kind of resource are merged for an hour.
    playbook:     Follow the finding type's remediation guide; isolate the resource named in
                  the finding's resource block first.
    reference:    https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html
    """
    severity = float(finding_of(rec).get('severity') or 0)
    if severity < CRITICAL_SEVERITY:
        context['severity'] = 'error'
    return severity >= HIGH_SEVERITY
