"""Slack workspace member promoted to admin or owner."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

PROMOTION_ACTIONS = frozenset(
    ('role_change_to_admin', 'role_change_to_owner', 'user_role_change_to_admin')
)


@rule(logs=['slack:audit'], outputs=REVIEW_OUTPUTS)
def slack_admin_role_change(rec):
    """
    author:       sa
    description:  A Slack member became a workspace or org admin or owner.
    playbook:     Confirm with the actor (actor.user.email) that the promotion was requested.
    reference:    https://api.slack.com/admins/audit-logs-call
    """
    return rec['action'] in PROMOTION_ACTIONS
