"""Path traversal or web-shell request that the web server answered with success."""

import re

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

ACCESS_LOGS = ['nginx:combined', 'nginx:json', 'apache:combined', 'apache:common']

# Traversal (plain or URL-encoded), reads of well-known secret files, and well-known web shells.
ATTACK_PATH = re.compile(
    r'(?:\.\./|%2e%2e(?:/|%2f)|\.\.%2f)'
    r'|/etc/(?:passwd|shadow)\b'
    r'|/(?:c99|r57|wso|shell|cmd|b374k)\.(?:php|aspx?|jsp)\b',
    re.IGNORECASE,
)


def requested_path(rec):
    """The request target: nginx JSON logs have it alone, combined logs inside the request line."""
    if 'request_uri' in rec:
        return rec['request_uri'] or ''
    parts = (rec['request'] or '').split(' ')
    return parts[1] if len(parts) > 1 else ''


@rule(logs=ACCESS_LOGS, outputs=REVIEW_OUTPUTS, merge_by_keys=['remote_addr'], merge_window_mins=30)
def web_attack_request_succeeded(rec):
    """
    author:       sa
    description:  A request for a traversal path, a system password file or a known web shell
                  got a 2xx answer: the attack may have worked. Blocked or failed probes are
                  ignored (scanners send thousands).
    playbook:     Read the response size (body_bytes_sent) against the normal page; check the
                  server for the file or shell requested.
    reference:    https://owasp.org/www-community/attacks/Path_Traversal
    """
    return 200 <= (rec['status'] or 0) < 300 and bool(ATTACK_PATH.search(requested_path(rec)))
