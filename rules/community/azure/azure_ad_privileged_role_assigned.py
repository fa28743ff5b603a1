"""Member added to a privileged Azure AD directory role."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS, get_keys

PRIVILEGED_ROLES = frozenset(
    (
        'Global Administrator',
        'Privileged Role Administrator',
        'Privileged Authentication Administrator',
        'Application Administrator',
    )
)


@rule(
    logs=['azure:audit'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'properties': ['activityDisplayName', 'targetResources']},
)
def azure_ad_privileged_role_assigned(rec):
    """
    author:       sa
    description:  A user or service principal was added to a privileged Azure AD directory
                  role (Global Administrator and peers).
    playbook:     Confirm through PIM or a change ticket; remove the assignment otherwise.
    reference:    https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
    """
    props = rec['properties']
    if props['activityDisplayName'] != 'Add member to role':
        return False
    role_names = [
        (change.get('newValue') or '').strip('"')
        for changes in get_keys(props['targetResources'], 'modifiedProperties')
        for change in changes
        if change.get('displayName') == 'Role.DisplayName'
    ]
    return any(name in PRIVILEGED_ROLES for name in role_names)
