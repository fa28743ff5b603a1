"""Interactive SSH login seen by osquery."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS
from rules.matchers.osquery import added_only

# utmp ut_type of a user process (a login session).
USER_PROCESS = '7'


@rule(
    logs=['osquery:differential'],
    outputs=REVIEW_OUTPUTS,
    matchers=[added_only],
    req_subkeys={'columns': ['host', 'tty', 'type', 'username']},
    merge_by_keys=['hostIdentifier', 'username'],
    merge_window_mins=60,
)
def osquery_ssh_login(rec):
    """
    author:       sa
    description:  A user opened an interactive SSH session (a pts login from a remote host)
                  on a server. Production servers are reached through the deploy system,
                  so hands-on logins deserve a look.
    playbook:     Ask the user why; check the source host (columns.host) is a bastion.
    reference:    https://osquery.io/schema/current/#last
    """
    columns = rec['columns']
    return (
        rec['name'].endswith('last')
        and str(columns['type']) == USER_PROCESS
        and columns['tty'].startswith('pts/')
        and columns['host'] not in ('', 'localhost', '127.0.0.1', '::1')
    )
