"""Constants and small helpers shared by the shipped rules.

StreamAlert repositories conventionally keep such helpers in rules/helpers/base.py; get_keys is
re-exported from streamalert.shared.utils so rules need one import.
"""

import json

from streamalert.shared.utils import get_keys

from rules.publishers.pagerduty import v2_payload
from rules.publishers.slack import AttachFullRecord, AttachRuleInfo, Summary

# The same CloudTrail record, delivered by S3 (or directly) and through CloudWatch Logs.
CLOUDTRAIL_LOGS = ['cloudtrail:events', 'cloudwatch:cloudtrail']

# CIDRs that put a firewall or ACL rule in front of the whole Internet.
WORLD_CIDRS = frozenset(('0.0.0.0/0', '::/0'))

# Outputs of rules that must wake someone up, and of rules a human reviews during the day.
PAGE_OUTPUTS = ['slack:security', 'pagerduty-v2:soc']
REVIEW_OUTPUTS = ['slack:security']
# Queue read by the response automation (host containment, ticketing).
SOAR_OUTPUT = 'aws-sqs:soar'

# The team owning each AWS account hears about its own misconfigurations in its channel.
ACCOUNT_OWNER_OUTPUTS = {
    '123456789012': 'slack:team-platform',
    '210987654321': 'slack:team-payments',
}

# Publisher layout for PAGE_OUTPUTS / REVIEW_OUTPUTS: a readable Slack summary with the
# docstring's playbook and the full record, and a shaped PagerDuty v2 event.
ALERT_PUBLISHERS = {
    'slack': [Summary, AttachRuleInfo, AttachFullRecord],
    'pagerduty-v2': [v2_payload],
}

S3_PUBLIC_GROUPS = frozenset(
    (
        'http://acs.amazonaws.com/groups/global/AllUsers',
        'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
    )
)
S3_PUBLIC_CANNED_ACLS = frozenset(('public-read', 'public-read-write', 'authenticated-read'))


def account_owner_output(record, _context=None):
    """Dynamic output: the owning team's Slack channel for a CloudTrail record's account
    (sa passes the rule's context as well when it is not empty)."""
    return ACCOUNT_OWNER_OUTPUTS.get(record.get('recipientAccountId'))


def is_world_cidr(cidr):
    return isinstance(cidr, str) and cidr.strip() in WORLD_CIDRS


def safe_json_loads(text):
    """Decode a JSON string field (some audit logs embed JSON as text), {} when it is not JSON."""
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return {}


def lower(value):
    """Lower-case a string field that a schema may also let through as null."""
    return value.lower() if isinstance(value, str) else ''


def s3_acl_is_public(params):
    """CloudTrail S3 requestParameters set a public canned ACL or grant a public group."""
    canned = params.get('x-amz-acl') or []
    if isinstance(canned, str):
        canned = [canned]
    if any(acl in S3_PUBLIC_CANNED_ACLS for acl in canned):
        return True
    grants = get_keys(params.get('AccessControlPolicy') or {}, 'URI')
    return any(uri in S3_PUBLIC_GROUPS for uri in grants)
