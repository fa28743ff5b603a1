"""Interactive exec or attach into a running pod."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# Namespaces where engineers debug freely.
DEV_NAMESPACES = frozenset(('dev', 'sandbox'))


@rule(
    logs=['kubernetes:audit'],
    outputs=REVIEW_OUTPUTS,
    req_subkeys={'objectRef': ['resource'], 'user': ['username']},
    merge_by_keys=['username', 'namespace'],
    merge_window_mins=30,
)
def kubernetes_pod_exec(rec):
    """
    author:       sa
    description:  A user ran a command inside (exec) or attached to a pod outside the
                  development namespaces. That bypasses image provenance and audit of changes.
    playbook:     Ask the user (user.username) what was run; for unknown users, check the pod
                  for tampering and rotate its service account token.
    reference:    https://kubernetes.io/docs/tasks/debug/debug-application/get-shell-running-container/
    """
    object_ref = rec['objectRef']
    return (
        rec['verb'] == 'create'
        # A streaming session is logged when it starts and again when it ends; alert once,
        # as soon as it starts.
        and rec['stage'] == 'ResponseStarted'
        and object_ref['resource'] == 'pods'
        and object_ref.get('subresource') in ('exec', 'attach')
        and object_ref.get('namespace') not in DEV_NAMESPACES
    )
