"""Publishers that shape PagerDuty events (Events API v2, plus the v1 and incident outputs).

PagerDuty pages a human, so these keep the page short: a one-line summary, a severity, and the
record as custom details rather than the whole alert envelope.
"""

from streamalert.shared.description import RuleDescriptionParser
from streamalert.shared.publisher import Register

from rules.publishers.generic import StringifyArrays

V2 = '@pagerduty-v2'
V2_SEVERITIES = ('critical', 'error', 'warning', 'info')
# PagerDuty rejects v2 summaries longer than 1024 characters.
MAX_SUMMARY = 1024


@Register
def shorten_title(alert, publication):
    """Use the bare rule name as the title of every PagerDuty output."""
    publication[V2 + '.summary'] = alert.rule_name
    publication['@pagerduty-incident.incident_title'] = alert.rule_name
    publication['@pagerduty.description'] = alert.rule_name
    return publication


@Register
def as_custom_details(_, publication):
    """Send the non-PagerDuty part of the publication as the event's details."""
    details = {key: value for key, value in publication.items() if not key.startswith('@pagerduty')}
    publication['@pagerduty.details'] = details
    publication[V2 + '.custom_details'] = details
    return publication


@Register
def v2_high_urgency(_, publication):
    publication[V2 + '.severity'] = 'critical'
    publication['@pagerduty-incident.urgency'] = 'high'
    return publication


@Register
def v2_low_urgency(_, publication):
    publication[V2 + '.severity'] = 'warning'
    publication['@pagerduty-incident.urgency'] = 'low'
    return publication


@Register
def v2_payload(alert, publication):
    """A complete v2 event: '<rule>: <description>' summary, severity from the rule's
    context['severity'] (default critical), source log type as component, cluster as group,
    rule name as class, the docstring's reference/playbook URLs as links and the record plus
    description as custom details."""
    rule_presentation = RuleDescriptionParser.present(alert.rule_description or '')
    summary = alert.rule_name
    if rule_presentation['description']:
        summary = '{}: {}'.format(alert.rule_name, rule_presentation['description'])
    severity = alert.context.get('severity', 'critical')
    publication[V2 + '.summary'] = summary[:MAX_SUMMARY]
    publication[V2 + '.severity'] = severity if severity in V2_SEVERITIES else 'critical'
    publication[V2 + '.component'] = alert.log_source
    publication[V2 + '.group'] = alert.cluster
    publication[V2 + '.class'] = alert.rule_name
    publication[V2 + '.links'] = [
        {'href': value, 'text': field.capitalize()}
        for field, value in rule_presentation['fields'].items()
        if value.startswith(('http://', 'https://'))
    ]
    publication[V2 + '.custom_details'] = {
        'description': rule_presentation['description'],
        'record': alert.record,
    }
    return publication


@Register
class PrettyPrintArrays(StringifyArrays):
    """StringifyArrays with a visible separator: PagerDuty collapses single newlines."""

    DELIMITER = '\n\n----------\n\n'
