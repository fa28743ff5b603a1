"""GCP IAM policy change granting owner/editor or public access."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

POWERFUL_ROLES = frozenset(('roles/owner', 'roles/editor', 'roles/iam.securityAdmin'))
PUBLIC_MEMBERS = frozenset(('allUsers', 'allAuthenticatedUsers'))
# Cloud Storage logs its IAM changes under its own method name.
STORAGE_SET_IAM = 'storage.setIamPermissions'


@rule(
    logs=['gcp:audit'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'protoPayload': ['methodName']},
)
def gcp_iam_policy_grants_owner_or_public(rec):
    """
    author:       sa
    description:  A SetIamPolicy call (or a Cloud Storage IAM change) added a binding for
                  owner, editor or securityAdmin, or added allUsers/allAuthenticatedUsers to
                  any role.
    playbook:     Check the binding delta (protoPayload.serviceData.policyDelta) with the
                  caller (protoPayload.authenticationInfo.principalEmail); revert if unplanned.
    reference:    https://cloud.google.com/logging/docs/audit/understanding-audit-logs
    """
    payload = rec['protoPayload']
    method = payload['methodName']
    if not (method.endswith('SetIamPolicy') or method == STORAGE_SET_IAM):
        return False
    delta = (payload.get('serviceData') or {}).get('policyDelta') or {}
    for binding in delta.get('bindingDeltas') or []:
        if binding.get('action') != 'ADD':
            continue
        member = binding.get('member', '')
        if binding.get('role') in POWERFUL_ROLES or member in PUBLIC_MEMBERS:
            return True
    return False
