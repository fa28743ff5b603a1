"""GitHub organization owner or enterprise admin added."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

OWNER_ADDED_ACTIONS = frozenset(
    ('org.update_member', 'business.add_admin', 'org.add_billing_manager')
)


@rule(logs=['github:audit'], outputs=REVIEW_OUTPUTS)
def github_org_owner_added(rec):
    """
    author:       sa
    description:  Someone became an organization owner, enterprise admin or billing manager.
    playbook:     Check the change with the actor; owners can disable every other control.
    reference:    https://docs.github.com/en/organizations/managing-peoples-access-to-your-organization-with-roles/roles-in-an-organization
    """
    if rec['action'] == 'org.update_member':
        return rec['permission'] == 'admin'
    return rec['action'] in OWNER_ADDED_ACTIONS
