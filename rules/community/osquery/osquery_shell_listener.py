"""A shell utility listening on a network port (bind shell)."""

import posixpath

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS
from rules.matchers.osquery import added_only

# Programs that hand a shell to whoever connects when they listen.
SHELL_LISTENERS = frozenset(
    (
        'nc',
        'ncat',
        'netcat',
        'nc.openbsd',
        'nc.traditional',
        'socat',
        'bash',
        'sh',
        'python',
        'python3',
        'perl',
    )
)


@rule(
    logs=['osquery:differential'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    matchers=[added_only],
    req_subkeys={'columns': ['path', 'port']},
)
def osquery_shell_listener(rec):
    """
    author:       sa
    description:  netcat, socat, a shell or a script interpreter started listening on a port:
                  the classic bind shell.
    playbook:     Kill the process (columns.pid) after capturing its command line and parent;
                  find how it was started.
    reference:    https://attack.mitre.org/techniques/T1059/
    """
    if 'binding_to_ports' not in rec['name'] and 'listening_ports' not in rec['name']:
        return False
    return posixpath.basename(rec['columns']['path']) in SHELL_LISTENERS
