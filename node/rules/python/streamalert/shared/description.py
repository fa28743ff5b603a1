"""streamalert.shared.description: structured reading of rule docstrings (docs/spec §13.6)."""
import collections
import re


class RuleDescriptionParser:
    """Splits a description into `field: text` sections."""

    _FIELD_REGEX = re.compile(
        r'^(?!http:|https:)(?P<field>[A-Za-z0-9\-_&\s]{0,20}):(?P<rest>.*)$')
    _URL_REGEX = re.compile(
        r'^(?:http(s)?://)?[\w.-]+(?:\.[\w\.-]+)+[\w\-\._~:/?#[\]@!\$&\'\(\)\*\+,;=.]+$')

    @classmethod
    def parse(cls, rule_description):
        """Ordered {field: [lines]}; text before any field belongs to 'description'."""
        fields = collections.OrderedDict()
        current = 'description'
        for line in (rule_description or '').strip().split('\n'):
            line = line.strip()
            if line:
                match = cls._FIELD_REGEX.match(line)
                if match:
                    current = match.group('field').strip().lower()
                    line = match.group('rest').strip()
            fields.setdefault(current, []).append(line)
        return fields

    @classmethod
    def present(cls, rule_description):
        """{'author', 'description', 'fields'}: each field's lines joined for display."""
        joined = collections.OrderedDict(
            (field, cls._join_lines(lines)) for field, lines in cls.parse(rule_description).items())
        author = joined.pop('author', '')
        maintainer = joined.pop('maintainer', '')
        return {
            'author': author or maintainer,
            'description': joined.pop('description', ''),
            'fields': joined,
        }

    @classmethod
    def _join_lines(cls, lines):
        text = ''
        pending_newlines = 0
        for line in lines:
            if not line:
                if text:
                    pending_newlines += 1
                continue
            if pending_newlines:
                text += '\n' * pending_newlines + line
                pending_newlines = 0
            elif not text:
                text = line
            elif cls._URL_REGEX.match(text + line):
                text += line
            else:
                text += ' ' + line
        return text
