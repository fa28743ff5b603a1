"""Okta administrator privilege granted to a user or group."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS

PRIVILEGE_GRANT_EVENTS = frozenset(
    (
        'user.account.privilege.grant',
        'group.privilege.grant',
    )
)


@rule(logs=['okta:systemlog'], outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def okta_admin_privilege_granted(rec):
    """
    author:       sa
    description:  An Okta admin role (super admin, org admin, app admin...) was granted to a
                  user or a group. Okta admins can reset anyone's MFA.
    playbook:     Confirm with the actor (actor.alternateId) and the target; revoke if
                  unplanned and review the actor's session (client.ipAddress).
    reference:    https://developer.okta.com/docs/reference/api/event-types/
    """
    return (
        rec['eventType'] in PRIVILEGE_GRANT_EVENTS
        and (rec['outcome'] or {}).get('result') == 'SUCCESS'
    )
