"""SSH or RDP connection from the Internet accepted by a VPC (disabled: noisy without tuning)."""

from streamalert.shared.rule import disable, rule
from streamalert.shared.utils import in_network

from rules.helpers.base import REVIEW_OUTPUTS

ADMIN_PORTS = frozenset((22, 3389))
TCP = 6
# Address space of the VPCs and the corporate network; anything else is the Internet.
INTERNAL_NETWORKS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']


@disable
@rule(
    logs=['vpcflow:default'],
    outputs=REVIEW_OUTPUTS,
    merge_by_keys=['interface_id', 'dstport'],
    merge_window_mins=60,
)
def vpcflow_admin_port_accepted_from_internet(rec):
    """
    author:       sa
    description:  A network interface accepted a TCP connection to SSH or RDP from an Internet
                  address. Shipped disabled: bastions and VPN endpoints make it noisy until
                  their interfaces are excluded.
    playbook:     Find the instance behind interface_id; close the security group rule that
                  lets the port in, or put the host behind the bastion.
    reference:    https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
    """
    return (
        rec['action'] == 'ACCEPT'
        and rec['protocol'] == TCP
        and rec['dstport'] in ADMIN_PORTS
        and not in_network(rec['srcaddr'], INTERNAL_NETWORKS)
    )
