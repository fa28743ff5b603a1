"""Box user promoted to admin or co-admin."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

ADMIN_EVENTS = frozenset(('CHANGE_ADMIN_ROLE', 'ADMIN_INVITE_ACCEPT'))


@rule(logs=['box:admin_events'], outputs=REVIEW_OUTPUTS)
def box_admin_role_change(rec):
    """
    author:       sa
    description:  A Box user's admin role changed (promoted to admin or co-admin) or an admin
                  invitation was accepted. Box admins can read every file.
    playbook:     Confirm with the acting admin (created_by.login).
    reference:    https://developer.box.com/guides/events/enterprise-events/for-enterprise/
    """
    return rec['event_type'] in ADMIN_EVENTS
