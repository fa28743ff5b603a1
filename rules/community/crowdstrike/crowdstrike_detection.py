"""CrowdStrike Falcon detection of high or critical severity."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS, SOAR_OUTPUT
from rules.publishers.generic import add_record, populate_fields

# Falcon severities: 1 informational .. 5 critical.
HIGH = 4


@rule(
    logs=['crowdstrike:detection'],
    outputs=PAGE_OUTPUTS + [SOAR_OUTPUT],
    # The response automation contains the host by SensorId and tickets the rest: it gets
    # just those fields.
    publishers=dict(ALERT_PUBLISHERS, **{SOAR_OUTPUT: [add_record, populate_fields]}),
    context={
        'populate_fields': ['SensorId', 'ComputerName', 'UserName', 'DetectName', 'SHA256String']
    },
    req_subkeys={'event': ['Severity', 'ComputerName']},
    merge_by_keys=['ComputerName'],
    merge_window_mins=30,
)
def crowdstrike_detection(rec, _):
    """
    author:       sa
    description:  Falcon reported a high or critical detection on an endpoint. Detections on
                  one host are merged for 30 minutes.
    playbook:     Open the detection (event.FalconHostLink); network-contain the host if the
                  process was not blocked.
    reference:    https://falcon.crowdstrike.com/documentation/page/d88d9ed6/streaming-api-event-dictionary
    """
    return (
        rec['metadata'].get('eventType') == 'DetectionSummaryEvent'
        and int(rec['event']['Severity'] or 0) >= HIGH
    )
