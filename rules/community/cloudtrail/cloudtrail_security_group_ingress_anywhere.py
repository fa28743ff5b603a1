"""Security group rule opening a port to the whole Internet."""

from streamalert.shared.rule import rule

from rules.helpers.base import (
    ALERT_PUBLISHERS,
    CLOUDTRAIL_LOGS,
    REVIEW_OUTPUTS,
    account_owner_output,
    is_world_cidr,
)
from rules.matchers.aws import prod_account


def _world_ranges(permission):
    ranges = (permission.get('ipRanges') or {}).get('items') or []
    ipv6_ranges = (permission.get('ipv6Ranges') or {}).get('items') or []
    return [item.get('cidrIp') for item in ranges] + [item.get('cidrIpv6') for item in ipv6_ranges]


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    dynamic_outputs=[account_owner_output],
    publishers=ALERT_PUBLISHERS,
    matchers=[prod_account],
    req_subkeys={'requestParameters': ['ipPermissions']},
)
def cloudtrail_security_group_ingress_anywhere(rec):
    """
    author:       sa
    description:  A production security group now allows inbound traffic from anywhere
                  (0.0.0.0/0 or ::/0). The account's owning team hears in its own channel.
    playbook:     (a) Find the owner of the group (requestParameters.groupId) and the
                  port range; (b) restrict the source to known CIDRs or a load balancer.
    reference:    https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
    """
    if rec['eventName'] != 'AuthorizeSecurityGroupIngress' or rec['errorCode']:
        return False
    permissions = (rec['requestParameters']['ipPermissions'] or {}).get('items') or []
    return any(is_world_cidr(cidr) for perm in permissions for cidr in _world_ranges(perm))
