"""GitHub organization or enterprise 2FA requirement turned off."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS
from rules.publishers.generic import add_record
from rules.publishers.pagerduty import (
    PrettyPrintArrays,
    as_custom_details,
    shorten_title,
    v2_high_urgency,
)

TWO_FACTOR_DISABLED_ACTIONS = frozenset(
    (
        'org.disable_two_factor_requirement',
        'business.disable_two_factor_requirement',
    )
)


@rule(
    logs=['github:audit'],
    outputs=PAGE_OUTPUTS,
    # The page carries the audit record itself, lists flattened for PagerDuty's renderer.
    publishers=dict(
        ALERT_PUBLISHERS,
        **{
            'pagerduty-v2': [
                add_record,
                as_custom_details,
                shorten_title,
                v2_high_urgency,
                PrettyPrintArrays,
            ]
        },
    ),
)
def github_two_factor_requirement_disabled(rec):
    """
    author:       sa
    description:  The requirement that every member use two-factor authentication was
                  disabled for an organization or enterprise.
    playbook:     Re-enable it at once (members without 2FA get removed again) and ask the
                  actor why.
    reference:    https://docs.github.com/en/organizations/keeping-your-organization-secure/managing-two-factor-authentication-for-your-organization/requiring-two-factor-authentication-in-your-organization
    """
    return rec['action'] in TWO_FACTOR_DISABLED_ACTIONS
