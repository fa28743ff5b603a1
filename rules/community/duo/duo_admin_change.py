"""Duo administrator account created, promoted or deleted."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

ADMIN_CHANGE_ACTIONS = frozenset(
    (
        'admin_create',
        'admin_delete',
        'admin_update',
        'admin_2fa_exempt',
    )
)


@rule(logs=['duo:administrator'], outputs=REVIEW_OUTPUTS)
def duo_admin_change(rec):
    """
    author:       sa
    description:  A Duo administrator was created, deleted, changed or exempted from 2FA.
    playbook:     Confirm the change with the acting admin (username); the target is in object.
    reference:    https://duo.com/docs/adminapi#administrator-logs
    """
    return rec['action'] in ADMIN_CHANGE_ACTIONS
