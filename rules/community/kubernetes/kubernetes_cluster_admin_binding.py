"""Binding to the cluster-admin role created."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS


@rule(
    logs=['kubernetes:audit'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'objectRef': ['resource']},
)
def kubernetes_cluster_admin_binding(rec):
    """
    author:       sa
    description:  A ClusterRoleBinding or RoleBinding to cluster-admin was created or
                  updated, so its subjects now control the whole cluster.
    playbook:     List the binding's subjects (requestObject.subjects); delete the binding
                  unless it comes from the cluster bootstrap.
    reference:    https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
    """
    if rec['verb'] not in ('create', 'update', 'patch'):
        return False
    if rec['objectRef']['resource'] not in ('clusterrolebindings', 'rolebindings'):
        return False
    role_ref = (rec['requestObject'] or {}).get('roleRef') or {}
    return role_ref.get('name') == 'cluster-admin'
