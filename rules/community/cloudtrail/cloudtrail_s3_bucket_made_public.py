"""S3 bucket ACL or policy granting access to everyone."""

from streamalert.shared.rule import rule

from rules.helpers.base import (
    ALERT_PUBLISHERS,
    CLOUDTRAIL_LOGS,
    PAGE_OUTPUTS,
    s3_acl_is_public,
    safe_json_loads,
)


def _policy_is_public(params):
    policy = safe_json_loads(params.get('bucketPolicy') or {})
    if not isinstance(policy, dict):
        return False
    statements = policy.get('Statement') or []
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        principal = statement.get('Principal')
        if isinstance(principal, dict):
            principal = principal.get('AWS')
        if (
            statement.get('Effect') == 'Allow'
            and principal in ('*', ['*'])
            and 'Condition' not in statement
        ):
            return True
    return False


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'requestParameters': ['bucketName']},
)
def cloudtrail_s3_bucket_made_public(rec):
    """
    author:       sa
    description:  An S3 bucket ACL now grants AllUsers/AuthenticatedUsers, or a bucket policy
                  allows Principal "*" without a condition.
    playbook:     (a) Check what the bucket holds and whether it is a public website bucket.
                  (b) If not, revert the ACL/policy and enable Block Public Access.
    reference:    https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
    """
    if rec['errorCode']:
        return False
    params = rec['requestParameters']
    if rec['eventName'] == 'PutBucketAcl':
        return s3_acl_is_public(params)
    if rec['eventName'] == 'PutBucketPolicy':
        return _policy_is_public(params)
    return False
