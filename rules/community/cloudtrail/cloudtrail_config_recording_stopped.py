"""AWS Config recorder stopped or its delivery channel deleted."""

from streamalert.shared.rule import rule

from rules.helpers.base import CLOUDTRAIL_LOGS, REVIEW_OUTPUTS
from rules.matchers.aws import prod_account


@rule(logs=CLOUDTRAIL_LOGS, outputs=REVIEW_OUTPUTS, matchers=[prod_account])
def cloudtrail_config_recording_stopped(rec):
    """
    author:       sa
    description:  AWS Config stopped recording resource changes in a production account.
    playbook:     Restart the recorder (aws configservice start-configuration-recorder).
    reference:    https://docs.aws.amazon.com/config/latest/developerguide/stop-start-recorder.html
    """
    return (
        rec['eventSource'] == 'config.amazonaws.com'
        and rec['eventName']
        in (
            'StopConfigurationRecorder',
            'DeleteConfigurationRecorder',
            'DeleteDeliveryChannel',
        )
        and not rec['errorCode']
    )
