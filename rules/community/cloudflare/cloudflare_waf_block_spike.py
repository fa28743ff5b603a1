"""Burst of Cloudflare WAF blocks from one client."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS
from rules.publishers.generic import add_record, enumerate_fields
from rules.publishers.slack import AttachPublication, AttachRuleInfo, Summary

BLOCK_ACTIONS = frozenset(
    ('block', 'challenge_failed', 'jschallenge_failed', 'managed_challenge_failed')
)


@rule(
    logs=['cloudflare:firewall_event'],
    outputs=REVIEW_OUTPUTS,
    # A compact Slack message: the record flattened to one "path: value" line per field.
    publishers={
        'slack': [add_record, enumerate_fields, Summary, AttachRuleInfo, AttachPublication]
    },
    merge_by_keys=['ClientIP', 'ClientRequestHost'],
    merge_window_mins=10,
)
def cloudflare_waf_block_spike(rec):
    """
    author:       sa
    description:  The Cloudflare WAF blocked a request from a client. Blocks are merged per
                  client IP and host over 10 minutes, so the alert's AlertCount measures the
                  spike; a scanner shows as one alert with a large count.
    playbook:     AlertCount above a few hundred: look at the rules hit (RuleID) and consider
                  a rate-limit or IP block for ClientIP.
    reference:    https://developers.cloudflare.com/logs/reference/log-fields/zone/firewall_events/
    """
    return rec['Action'] in BLOCK_ACTIONS and rec['Source'] in (
        'waf',
        'firewallManaged',
        'firewallCustom',
    )
