"""New kernel module loaded on a host."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS
from rules.matchers.osquery import added_only

# Modules our fleet loads after boot (hot-plugged hardware, VPN, container networking).
EXPECTED_MODULES = frozenset(
    ('overlay', 'br_netfilter', 'nf_conntrack', 'veth', 'xt_nat', 'wireguard')
)


@rule(
    logs=['osquery:differential'],
    outputs=REVIEW_OUTPUTS,
    matchers=[added_only],
    req_subkeys={'columns': ['name']},
)
def osquery_kernel_module_loaded(rec):
    """
    author:       sa
    description:  A kernel module outside the expected list appeared on a host. Rootkits load
                  as kernel modules.
    playbook:     Identify the module's file (modinfo <name>) and package; reimage if unknown.
    reference:    https://attack.mitre.org/techniques/T1547/006/
    """
    return 'kernel_modules' in rec['name'] and rec['columns']['name'] not in EXPECTED_MODULES
