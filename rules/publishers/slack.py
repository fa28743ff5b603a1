"""Publishers that lay an alert out as Slack attachments.

A typical chain is [Summary, AttachRuleInfo, AttachFullRecord]: Summary replaces the publication
with a headline attachment built from the rule's docstring, the others append to it.
"""

import calendar
import html
import json

from streamalert.shared.description import RuleDescriptionParser
from streamalert.shared.publisher import AlertPublisher, Register

COLOR_SUMMARY = '#ff5a5f'
COLOR_PUBLICATION = '#00d1c1'
COLOR_RULE_INFO = '#8ce071'
COLOR_RECORD = '#7b0051'

# Slack truncates attachment text at 4000 characters; the code fences take the rest.
MAX_RECORD_CHUNK = 3990

PREVIOUS_PUBLICATION = '@slack._previous_publication'
ATTACHMENTS = '@slack.attachments'


def _escape(text):
    """Slack only needs &, < and > escaped; escaping quotes would show up literally."""
    return html.escape(text, quote=False)


def _pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, separators=(', ', ': '), default=str)


@Register
class Summary(AlertPublisher):
    """Headline attachment: rule name, author and description. Keeps the incoming publication
    under @slack._previous_publication so AttachPublication can show it."""

    def publish(self, alert, publication):
        rule_presentation = RuleDescriptionParser.present(alert.rule_description or '')
        return {
            '@slack.text': 'Rule triggered',
            ATTACHMENTS: [
                {
                    'fallback': 'Rule triggered: {}'.format(alert.rule_name),
                    'color': COLOR_SUMMARY,
                    'author_name': rule_presentation['author'],
                    'title': alert.rule_name,
                    'text': _escape(rule_presentation['description']),
                    'ts': calendar.timegm(alert.created.timetuple()),
                    'mrkdwn_in': [],
                }
            ],
            PREVIOUS_PUBLICATION: publication,
        }


@Register
class AttachRuleInfo(AlertPublisher):
    """One field per extra docstring entry (playbook, reference, ...)."""

    def publish(self, alert, publication):
        rule_presentation = RuleDescriptionParser.present(alert.rule_description or '')
        publication.setdefault(ATTACHMENTS, []).append(
            {
                'color': COLOR_RULE_INFO,
                'fields': [
                    {'title': key.capitalize(), 'value': value}
                    for key, value in rule_presentation['fields'].items()
                ],
            }
        )
        return publication


@Register
class AttachPublication(AlertPublisher):
    """Show what the publishers before Summary produced, as a JSON code block."""

    def publish(self, alert, publication):
        if PREVIOUS_PUBLICATION not in publication or ATTACHMENTS not in publication:
            return publication
        publication[ATTACHMENTS].append(
            {
                'color': COLOR_PUBLICATION,
                'title': 'Alert Data:',
                'text': _escape(
                    '```\n{}\n```'.format(_pretty_json(publication[PREVIOUS_PUBLICATION]))
                ),
                'mrkdwn_in': ['text'],
            }
        )
        return publication


@Register
class AttachFullRecord(AlertPublisher):
    """The whole record as pretty JSON, split on line boundaries over as many attachments as
    Slack's text limit requires."""

    def publish(self, alert, publication):
        chunks = self._chunks(_escape(_pretty_json(alert.record)))
        attachments = publication.setdefault(ATTACHMENTS, [])
        for index, chunk in enumerate(chunks):
            first, last = index == 0, index == len(chunks) - 1
            attachments.append(
                {
                    'color': COLOR_RECORD,
                    'author_name': alert.source_entity if first else '',
                    'title': 'Record' if first else '',
                    'text': '```\n{}\n```'.format(chunk),
                    'fields': [{'title': 'Alert Id', 'value': alert.alert_id}] if last else [],
                    'footer': 'via {}'.format(alert.source_service or 'sa') if last else '',
                    'mrkdwn_in': ['text'],
                }
            )
        return publication

    @staticmethod
    def _chunks(text):
        chunks, current = [], ''
        for line in text.split('\n'):
            # A single line longer than the limit is hard-split rather than dropped.
            while len(line) > MAX_RECORD_CHUNK:
                if current:
                    chunks.append(current)
                    current = ''
                chunks.append(line[:MAX_RECORD_CHUNK])
                line = line[MAX_RECORD_CHUNK:]
            candidate = '{}\n{}'.format(current, line) if current else line
            if len(candidate) > MAX_RECORD_CHUNK:
                chunks.append(current)
                current = line
            else:
                current = candidate
        chunks.append(current)
        return chunks
