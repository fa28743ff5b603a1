"""Matchers for AWS records: narrow a rule to production accounts or to live GuardDuty findings.

A matcher takes the record and returns a truth value; every matcher of a rule must pass before
the rule function runs.
"""

# Accounts whose findings page someone; everything else goes to the daily review only.
PROD_ACCOUNTS = frozenset(('123456789012', '210987654321'))


def prod_account(record):
    """CloudTrail (recipientAccountId) or CloudWatch Events (account) record from production."""
    account = record.get('recipientAccountId') or record.get('account')
    return account in PROD_ACCOUNTS


def guard_duty_finding(record):
    return record.get('detail-type') == 'GuardDuty Finding'


def guard_duty_not_archived(record):
    """GuardDuty re-emits findings a user archived (suppression rules); those are handled."""
    detail = record.get('detail')
    if not isinstance(detail, dict):
        return False
    service = detail.get('service')
    return not (isinstance(service, dict) and service.get('archived') is True)
