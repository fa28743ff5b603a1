"""OneLogin administrator assumed another user's identity."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# OneLogin event type "User <actor> assumed user <user>".
USER_ASSUMED = 3


@rule(
    logs=['onelogin:events'],
    outputs=REVIEW_OUTPUTS,
    merge_by_keys=['actor_user_id'],
    merge_window_mins=60,
)
def onelogin_user_assumed_by_admin(rec):
    """
    author:       sa
    description:  A OneLogin administrator assumed (impersonated) another user and can now
                  open that user's applications.
    playbook:     Confirm a support ticket explains the impersonation of user_name.
    reference:    https://onelogin.service-now.com/support?id=kb_article&sys_id=assume-user
    """
    return rec['event_type_id'] == USER_ASSUMED
