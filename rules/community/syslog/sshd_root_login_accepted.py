"""Direct SSH login as root accepted."""

import re

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

# "Accepted publickey for root from 198.51.100.7 port 50022 ssh2: ED25519 SHA256:..."
ROOT_LOGIN = re.compile(r'^Accepted (?P<method>\S+) for root from (?P<source>\S+) port \d+')


@rule(
    logs=['syslog:sshd'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['host'],
    merge_window_mins=60,
    context={},
)
def sshd_root_login_accepted(rec, context):
    """
    author:       sa
    description:  sshd accepted a login straight into root. Root logins leave no trace of
                  who the person was; servers should set PermitRootLogin no.
    playbook:     Find who holds the accepted key or password (context.method/source); move
                  them to a named account with sudo.
    reference:    https://man.openbsd.org/sshd_config#PermitRootLogin
    """
    match = ROOT_LOGIN.match(rec['message'] or '')
    if not match:
        return False
    context['method'] = match.group('method')
    context['source'] = match.group('source')
    return True
