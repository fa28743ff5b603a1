"""Privileged or host-namespace pod created."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

SYSTEM_NAMESPACES = frozenset(('kube-system',))


def _breaks_isolation(spec):
    if spec.get('hostPID') or spec.get('hostNetwork') or spec.get('hostIPC'):
        return True
    containers = (spec.get('containers') or []) + (spec.get('initContainers') or [])
    return any(
        (container.get('securityContext') or {}).get('privileged') for container in containers
    )


@rule(
    logs=['kubernetes:audit'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'objectRef': ['resource']},
)
def kubernetes_privileged_pod_created(rec):
    """
    author:       sa
    description:  A pod was created with a privileged container or with the host's PID,
                  network or IPC namespace, outside kube-system. Such a pod owns its node.
    playbook:     Find who created it (user.username) and why; delete it unless it is a
                  known node agent.
    reference:    https://kubernetes.io/docs/concepts/security/pod-security-standards/
    """
    object_ref = rec['objectRef']
    if (
        rec['verb'] != 'create'
        or object_ref['resource'] != 'pods'
        or object_ref.get('subresource')
        or object_ref.get('namespace') in SYSTEM_NAMESPACES
    ):
        return False
    return _breaks_isolation((rec['requestObject'] or {}).get('spec') or {})
