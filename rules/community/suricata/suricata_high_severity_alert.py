"""Suricata IDS alert of severity 1 (high)."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

HIGH = 1


@rule(
    logs=['suricata:alert'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=['signature_id', 'src_ip'],
    merge_window_mins=30,
)
def suricata_high_severity_alert(rec):
    """
    author:       sa
    description:  Suricata raised a severity-1 alert that it did not drop inline. Repeats of
                  one signature from one source are merged.
    playbook:     Read the signature (alert.signature) and the payload; check the destination
                  host for the behaviour it describes.
    reference:    https://docs.suricata.io/en/latest/output/eve/eve-json-format.html
    """
    if rec['event_type'] != 'alert':
        return False
    alert = rec['alert'] or {}
    return alert.get('severity') == HIGH and alert.get('action') != 'blocked'
