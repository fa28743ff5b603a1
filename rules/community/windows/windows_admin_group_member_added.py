"""Member added to a privileged Windows group."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# A member was added to a security-enabled local (4732) or global/universal (4728, 4756) group.
MEMBER_ADDED_EVENTS = frozenset((4728, 4732, 4756))
PRIVILEGED_GROUPS = frozenset(
    (
        'administrators',
        'domain admins',
        'enterprise admins',
        'schema admins',
        'backup operators',
    )
)


@rule(
    logs=['windows:security'], outputs=REVIEW_OUTPUTS, req_subkeys={'EventData': ['TargetUserName']}
)
def windows_admin_group_member_added(rec):
    """
    author:       sa
    description:  An account was added to Administrators, Domain/Enterprise/Schema Admins or
                  Backup Operators.
    playbook:     Confirm the change with the actor (EventData.SubjectUserName); the new
                  member is EventData.MemberName / MemberSid.
    reference:    https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-4732
    """
    return (
        rec['EventID'] in MEMBER_ADDED_EVENTS
        and (rec['EventData']['TargetUserName'] or '').lower() in PRIVILEGED_GROUPS
    )
