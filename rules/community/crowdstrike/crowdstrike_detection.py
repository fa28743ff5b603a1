"""CrowdStrike Falcon detection of high or critical severity."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS

# Falcon severities: 1 informational .. 5 critical.
HIGH = 4


@rule(
    logs=['crowdstrike:detection'],
    outputs=PAGE_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'event': ['Severity', 'ComputerName']},
    merge_by_keys=['ComputerName'],
    merge_window_mins=30,
)
def crowdstrike_detection(rec):
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
