"""S3 object uploaded or re-ACLed as public."""

from streamalert.shared.rule import rule

from rules.helpers.base import CLOUDTRAIL_LOGS, REVIEW_OUTPUTS, s3_acl_is_public

# Buckets that serve public web content on purpose.
PUBLIC_CONTENT_BUCKETS = frozenset(('acme-public-assets', 'acme-www'))


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    req_subkeys={'requestParameters': ['bucketName', 'key']},
    merge_by_keys=['bucketName'],
    merge_window_mins=30,
)
def cloudtrail_s3_object_made_public(rec):
    """
    author:       sa
    description:  An object outside the public-content buckets was given a public ACL
                  (PutObjectAcl, or PutObject with a public canned ACL). Needs S3 data events.
    playbook:     Check the object's content; remove the public grant if unintended.
    reference:    https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html
    """
    params = rec['requestParameters']
    return (
        rec['eventName'] in ('PutObjectAcl', 'PutObject')
        and not rec['errorCode']
        and params['bucketName'] not in PUBLIC_CONTENT_BUCKETS
        and s3_acl_is_public(params)
    )
