"""Matchers for AWS records: narrow a rule to production accounts or to live GuardDuty findings.

A matcher takes the record and returns a truth value; every matcher of a rule must pass before
the rule function runs.
"""

# Accounts whose findings page someone; everything else goes to the daily review only.
PROD_ACCOUNTS = frozenset(('123456789012', '210987654321'))


def prod_account(record):
    """CloudTrail (recipientAccountId), CloudWatch Events (account), GuardDuty (accountId) or
    AWS Config (awsAccountId) record from a production account."""
    account = (
        record.get('recipientAccountId')
        or record.get('account')
        or record.get('accountId')
        or record.get('awsAccountId')
    )
    return account in PROD_ACCOUNTS


def guard_duty_finding(record):
    """A GuardDuty finding, either as a CloudWatch/EventBridge event or exported as is."""
    if 'detail-type' in record:
        return record['detail-type'] == 'GuardDuty Finding'
    return str(record.get('arn', '')).startswith('arn:aws:guardduty:')


def finding_of(record):
    """The finding itself: the event's detail, or the record when exported directly."""
    return record['detail'] if 'detail-type' in record else record


def guard_duty_not_archived(record):
    """GuardDuty re-emits findings a user archived (suppression rules); those are handled."""
    finding = finding_of(record)
    service = finding.get('service') if isinstance(finding, dict) else None
    return not (isinstance(service, dict) and service.get('archived') is True)
