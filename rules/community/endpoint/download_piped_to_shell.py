"""curl/wget output piped straight into a shell, seen by auditd or an EDR on Linux or macOS."""

import binascii
import re

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# 'curl ... | sh', 'wget -qO- ... | sudo bash', 'bash -c "$(curl ...)"', 'bash <(curl ...)'.
DOWNLOAD_TO_SHELL = re.compile(
    r'(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b'
    r'|(?:ba|z|da)?sh\s+(?:-c\s+["\']?\$\(|<\()\s*(?:curl|wget)\b'
)

PROCESS_START_LOGS = [
    'auditd:proctitle',
    'crowdstrike:fdr_process',
    'carbonblack:ingress.event.procstart',
]


def decode_proctitle(proctitle):
    """auditd logs the command line hex-encoded (arguments separated by NUL) whenever it holds
    a space or a quote, and as plain text otherwise."""
    try:
        return binascii.unhexlify(proctitle).decode('utf-8', 'replace').replace('\0', ' ')
    except (binascii.Error, ValueError):
        return proctitle.strip('"')


def command_line(rec):
    """The started process's command line: auditd, CrowdStrike FDR or Carbon Black."""
    if 'proctitle' in rec:
        return decode_proctitle(rec['proctitle'] or '')
    return rec.get('CommandLine') or rec.get('command_line') or ''


@rule(logs=PROCESS_START_LOGS, outputs=REVIEW_OUTPUTS)
def download_piped_to_shell(rec):
    """
    author:       sa
    description:  A shell was started with a command line that downloads a script and runs it
                  unseen (curl|bash). Common in installers, and in attackers' second stages.
    playbook:     Fetch the URL from a sandbox and read what it runs; check which user and
                  parent process started it.
    reference:    https://attack.mitre.org/techniques/T1059/004/
    """
    return bool(DOWNLOAD_TO_SHELL.search(command_line(rec)))
