"""Route 53 Resolver DNS Firewall blocked or flagged a query."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

FIREWALL_ACTIONS = frozenset(('BLOCK', 'ALERT'))


@rule(
    logs=['route53:resolver_query'],
    outputs=REVIEW_OUTPUTS,
    merge_by_keys=['srcaddr', 'firewall_domain_list_id'],
    merge_window_mins=60,
)
def route53_dns_firewall_hit(rec):
    """
    author:       sa
    description:  A query matched a Route 53 Resolver DNS Firewall rule (a blocked domain
                  list, or DNS tunnelling / DGA protection) whose action blocks or alerts.
                  Hits from one source on one list are merged for an hour.
    playbook:     Identify the instance behind srcaddr (srcids.instance) and what queried the
                  name; tunnelling hits mean data may be leaving.
    reference:    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resolver-dns-firewall.html
    """
    return rec['firewall_rule_action'] in FIREWALL_ACTIONS
