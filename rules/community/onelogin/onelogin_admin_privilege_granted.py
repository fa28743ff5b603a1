"""OneLogin privilege granted or super-user role assigned."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

# OneLogin event types: a privilege granted to a user, to a role, and a user given a role.
PRIVILEGE_EVENT_TYPES = frozenset((72, 73, 226))
ADMIN_NAME_HINTS = ('admin', 'super user', 'superuser')


@rule(logs=['onelogin:events'], outputs=REVIEW_OUTPUTS, publishers=ALERT_PUBLISHERS)
def onelogin_admin_privilege_granted(rec):
    """
    author:       sa
    description:  A OneLogin privilege or role whose name marks it as administrative was
                  granted to a user or role.
    playbook:     Confirm with the actor (actor_user_name); revoke if unplanned.
    reference:    https://developers.onelogin.com/api-docs/1/events/event-types
    """
    if rec['event_type_id'] not in PRIVILEGE_EVENT_TYPES:
        return False
    granted = '{} {}'.format(rec['privilege_name'] or '', rec['role_name'] or '').lower()
    return any(hint in granted for hint in ADMIN_NAME_HINTS)
