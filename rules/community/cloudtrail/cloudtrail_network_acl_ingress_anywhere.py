"""Network ACL entry allowing inbound traffic from anywhere."""

from streamalert.shared.rule import rule

from rules.helpers.base import CLOUDTRAIL_LOGS, REVIEW_OUTPUTS, account_owner_output, is_world_cidr


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    dynamic_outputs=[account_owner_output],
    req_subkeys={'requestParameters': ['egress', 'ruleAction']},
)
def cloudtrail_network_acl_ingress_anywhere(rec):
    """
    author:       sa
    description:  A network ACL entry now allows inbound traffic from 0.0.0.0/0 or ::/0. The
                  account's owning team hears in its own channel.
    playbook:     Check which subnets use the ACL (requestParameters.networkAclId) and whether
                  the rule's port range is meant to be public.
    reference:    https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html
    """
    params = rec['requestParameters']
    return (
        rec['eventName'] in ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
        and not rec['errorCode']
        and params['egress'] is False
        and params['ruleAction'] == 'allow'
        and (is_world_cidr(params.get('cidrBlock')) or is_world_cidr(params.get('ipv6CidrBlock')))
    )
