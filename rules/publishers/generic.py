"""Publishers that reshape an alert's publication whatever the output it goes to.

They mirror StreamAlert's community generic publishers, so rules written for StreamAlert find the
same building blocks here. A publisher chain starts from an empty publication (not from
alert.output_dict()), which is why add_record usually comes first.
"""

import re
from collections import OrderedDict, deque

from streamalert.shared.normalize import Normalizer
from streamalert.shared.publisher import AlertPublisher, Register
from streamalert.shared.utils import get_keys


@Register
def add_record(alert, publication):
    """Put the triggering record under the 'record' key."""
    publication['record'] = alert.record
    return publication


@Register
def blank(*_):
    """Start over from an empty publication."""
    return {}


@Register
def remove_internal_fields(_, publication):
    """Drop the fields of output_dict() that only matter to sa itself."""
    for field in ('staged', 'publishers', 'outputs'):
        publication.pop(field, None)
    return publication


def _delete_matching_keys(publication, pattern):
    """Delete, breadth-first through nested dicts and lists, every key matching the regex."""
    regex = re.compile(pattern)
    pending = deque([publication])
    while pending:
        node = pending.popleft()
        if isinstance(node, dict):
            for key in [key for key in node if regex.search(key)]:
                del node[key]
            pending.extend(value for value in node.values() if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            pending.extend(value for value in node if isinstance(value, (dict, list)))
    return publication


@Register
def remove_fields(alert, publication):
    """Delete every key matching one of the regexes in context['remove_fields']."""
    for pattern in alert.context.get('remove_fields', []):
        _delete_matching_keys(publication, pattern)
    return publication


@Register
def remove_streamalert_normalization(_, publication):
    """Delete the normalization block wherever it appears (e.g. inside an added record)."""
    return _delete_matching_keys(publication, Normalizer.NORMALIZATION_KEY)


def _flatten(prefix, value, flat):
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten('{}.{}'.format(prefix, key) if prefix else key, child, flat)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _flatten('{}[{}]'.format(prefix, index), child, flat)
    else:
        flat[prefix] = value


@Register
def enumerate_fields(_, publication):
    """Flatten the publication to {'a.b[0].c': leaf}, sorted by path; empty containers vanish."""
    flat = {}
    _flatten('', publication, flat)
    return OrderedDict(sorted(flat.items()))


@Register
def populate_fields(alert, publication):
    """Keep only the fields named in context['populate_fields'], each as the list of all values
    found for that key anywhere in the publication."""
    return {
        field: get_keys(publication, field) for field in alert.context.get('populate_fields', [])
    }


@Register
class StringifyArrays(AlertPublisher):
    """Turn every list of scalars found as a dict value into one delimiter-joined string.

    Chat and ticket outputs render lists poorly; a joined string reads well in all of them.
    """

    DELIMITER = '\n'

    def publish(self, alert, publication):
        pending = deque([publication])
        while pending:
            node = pending.popleft()
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, dict):
                        pending.append(value)
                    elif isinstance(value, list):
                        if any(isinstance(item, (dict, list)) for item in value):
                            pending.append(value)
                        else:
                            node[key] = self.DELIMITER.join(str(item) for item in value)
            elif isinstance(node, list):
                pending.extend(item for item in node if isinstance(item, dict))
        return publication
