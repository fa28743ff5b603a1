"""Duo bypass code created without an expiry or use limit."""

import json

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS


@rule(logs=['duo:administrator'], outputs=REVIEW_OUTPUTS)
def duo_bypass_code_created(rec):
    """
    author:       sa
    description:  An administrator created a Duo bypass code that never expires or that can
                  be used any number of times, a standing way around MFA.
    playbook:     Ask the admin (username) for the ticket; delete the code if there is none.
    reference:    https://duo.com/docs/adminapi#administrator-logs
    """
    if rec['action'] != 'bypass_create':
        return False
    try:
        details = json.loads(rec['description'] or '{}')
    except ValueError:
        return True  # an unreadable description hides the limits, so assume the worst
    return not details.get('valid_secs') or not details.get('remaining_uses')
