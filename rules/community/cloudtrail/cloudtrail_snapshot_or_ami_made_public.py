"""EBS snapshot, RDS snapshot or AMI shared with every AWS account."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, PAGE_OUTPUTS, get_keys


def _ec2_shared_with_all(params):
    # ModifySnapshotAttribute (createVolumePermission) and ModifyImageAttribute
    # (launchPermission) both express "everyone" as an added group named 'all'.
    for attribute in ('createVolumePermission', 'launchPermission'):
        added = get_keys(params.get(attribute) or {}, 'add')
        if any(group == 'all' for entry in added for group in get_keys(entry, 'group')):
            return True
    return False


def _rds_shared_with_all(params):
    return params.get('attributeName') == 'restore' and 'all' in (params.get('valuesToAdd') or [])


@rule(logs=CLOUDTRAIL_LOGS, outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def cloudtrail_snapshot_or_ami_made_public(rec):
    """
    author:       sa
    description:  A disk snapshot, database snapshot or machine image was made restorable by
                  any AWS account. Snapshots routinely hold secrets and customer data.
    playbook:     Remove the 'all' permission, then check the snapshot's content and whether
                  it was copied by an outside account in the meantime.
    reference:    https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html
    """
    if rec['errorCode']:
        return False
    params = rec['requestParameters'] or {}
    if rec['eventName'] in ('ModifySnapshotAttribute', 'ModifyImageAttribute'):
        return _ec2_shared_with_all(params)
    if rec['eventName'] in ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute'):
        return _rds_shared_with_all(params)
    return False
