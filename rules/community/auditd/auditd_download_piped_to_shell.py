"""curl/wget output piped straight into a shell (auditd execve)."""
import re

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# 'curl ... | sh', 'wget -qO- ... | sudo bash', 'bash -c "$(curl ...)"', 'bash <(curl ...)'.
DOWNLOAD_TO_SHELL = re.compile(
    r'(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b'
    r'|(?:ba|z|da)?sh\s+(?:-c\s+["\']?\$\(|<\()\s*(?:curl|wget)\b'
)


@rule(logs=['auditd:execve'], outputs=REVIEW_OUTPUTS, merge_by_keys=['host'], merge_window_mins=30)
def auditd_download_piped_to_shell(rec):
    """
    author:       sa
    description:  A shell was started with a command line that downloads a script and runs it
                  unseen (curl|bash). Common in installers, and in attackers' second stages.
    playbook:     Fetch the URL from a sandbox and read what it runs; check who ran it (auid).
    reference:    https://attack.mitre.org/techniques/T1059/004/
    """
    return bool(DOWNLOAD_TO_SHELL.search(rec['command_line'] or ''))
