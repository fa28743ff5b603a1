"""IAM access key created by one principal for another user."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, CLOUDTRAIL_LOGS, REVIEW_OUTPUTS


@rule(
    logs=CLOUDTRAIL_LOGS,
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'userIdentity': ['type'], 'requestParameters': ['userName']},
)
def cloudtrail_access_key_created_for_other_user(rec):
    """
    author:       sa
    description:  CreateAccessKey for a user other than the caller: a classic persistence
                  step, since the new key keeps working after the caller's session ends.
    playbook:     (a) Confirm with the caller and the target user (requestParameters.userName).
                  (b) If unexplained, deactivate the new key
                  (responseElements.accessKey.accessKeyId).
    reference:    https://attack.mitre.org/techniques/T1098/001/
    """
    if rec['eventName'] != 'CreateAccessKey' or rec['errorCode']:
        return False
    target = rec['requestParameters']['userName']
    caller = rec['userIdentity'].get('userName')
    if rec['userIdentity']['type'] == 'AssumedRole':
        caller = (rec['userIdentity'].get('arn') or '').rsplit('/', 1)[-1]
    return bool(target) and target != caller
