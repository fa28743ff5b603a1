"""Burst of AWS WAF blocks from one client."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS


@rule(
    logs=['waf:web_acl'],
    outputs=REVIEW_OUTPUTS,
    req_subkeys={'httpRequest': ['clientIp']},
    merge_by_keys=['clientIp', 'webaclId'],
    merge_window_mins=10,
)
def aws_waf_block_spike(rec):
    """
    author:       sa
    description:  AWS WAF blocked a request. Blocks are merged per client IP and web ACL over
                  10 minutes, so the merged alert's AlertCount measures the spike.
    playbook:     A large AlertCount: check which rules terminated (terminatingRuleId) and
                  whether the client should be rate-limited or blocked outright.
    reference:    https://docs.aws.amazon.com/waf/latest/developerguide/logging-fields.html
    """
    return rec['action'] == 'BLOCK'
