"""GitHub branch protection removed or overridden."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

PROTECTION_REMOVED_ACTIONS = frozenset(
    (
        'protected_branch.destroy',
        'protected_branch.policy_override',
        'protected_branch.rejected_ref_update',
        'repository_ruleset.destroy',
    )
)


@rule(
    logs=['github:audit'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['repo'],
    merge_window_mins=60,
)
def github_branch_protection_disabled(rec):
    """
    author:       sa
    description:  Branch protection (or a ruleset) was deleted on a repository, or an admin
                  pushed past it. Code then reaches the default branch without review.
    playbook:     Restore the protection; review commits pushed to the branch since.
    reference:    https://docs.github.com/en/organizations/keeping-your-organization-secure/managing-security-settings-for-your-organization/audit-log-events-for-your-organization
    """
    return rec['action'] in PROTECTION_REMOVED_ACTIONS
