"""Okta MFA factors reset for a user by someone else."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS


@rule(logs=['okta:systemlog'], outputs=REVIEW_OUTPUTS)
def okta_mfa_reset_by_admin(rec):
    """
    author:       sa
    description:  An administrator reset all MFA factors of another user: the help-desk
                  social-engineering path to account takeover.
    playbook:     Check a help-desk ticket exists for the target (target[].alternateId).
    reference:    https://attack.mitre.org/techniques/T1556/006/
    """
    if rec['eventType'] != 'user.mfa.factor.reset_all':
        return False
    actor = (rec['actor'] or {}).get('alternateId')
    targets = [
        target.get('alternateId') for target in rec['target'] or [] if target.get('type') == 'User'
    ]
    return any(target != actor for target in targets)
