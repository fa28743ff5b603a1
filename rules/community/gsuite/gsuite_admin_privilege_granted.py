"""Google Workspace admin role assigned."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

ROLE_GRANT_EVENTS = frozenset(
    ('ASSIGN_ROLE', 'GRANT_ADMIN_PRIVILEGE', 'GRANT_DELEGATED_ADMIN_PRIVILEGES')
)
SUPER_ADMIN_ROLE = '_SEED_ADMIN_ROLE'


def _role_names(event):
    return [
        parameter.get('value')
        for parameter in event.get('parameters') or []
        if parameter.get('name') == 'ROLE_NAME'
    ]


@rule(logs=['gsuite:admin'], outputs=REVIEW_OUTPUTS, publishers=ALERT_PUBLISHERS, context={})
def gsuite_admin_privilege_granted(rec, context):
    """
    author:       sa
    description:  A Google Workspace admin role was assigned. Super admin grants are marked
                  in the alert's context.
    playbook:     Confirm with the actor (actor.email); super admin grants need two approvers.
    reference:    https://developers.google.com/admin-sdk/reports/v1/appendix/activity/admin-delegated-admin-settings
    """
    granted = [
        role
        for event in rec['events'] or []
        if event.get('name') in ROLE_GRANT_EVENTS
        for role in _role_names(event) or ['(unnamed role)']
    ]
    if granted:
        context['roles'] = granted
        context['super_admin'] = SUPER_ADMIN_ROLE in granted
    return bool(granted)
