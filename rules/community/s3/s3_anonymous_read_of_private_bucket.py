"""Anonymous download from a bucket that is not meant to be public."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS

# Buckets that serve public web content on purpose.
PUBLIC_CONTENT_BUCKETS = frozenset(('acme-public-assets', 'acme-www'))


@rule(
    logs=['s3:server_access'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['bucket', 'remote_ip'],
    merge_window_mins=60,
)
def s3_anonymous_read_of_private_bucket(rec):
    """
    author:       sa
    description:  An unauthenticated requester downloaded an object from a bucket outside the
                  public-content list: the bucket or object is public and someone found it.
    playbook:     Block public access on the bucket at once, then list what remote_ip fetched
                  (merged alert) and treat it as disclosed.
    reference:    https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html
    """
    return (
        rec['requester'] == '-'
        and rec['operation'] == 'REST.GET.OBJECT'
        and rec['http_status'] == 200
        and rec['bucket'] not in PUBLIC_CONTENT_BUCKETS
    )
