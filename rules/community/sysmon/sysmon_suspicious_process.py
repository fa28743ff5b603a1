"""Office or script host spawning an encoded or downloading shell (Sysmon event 1)."""

import ntpath
import re

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS, lower

OFFICE_PARENTS = frozenset(
    ('winword.exe', 'excel.exe', 'powerpnt.exe', 'outlook.exe', 'mshta.exe', 'wscript.exe')
)
SHELLS = frozenset(('powershell.exe', 'pwsh.exe', 'cmd.exe', 'rundll32.exe', 'regsvr32.exe'))
# -EncodedCommand (PowerShell accepts -e, -ec, -enc, ... and /e) followed by a base64 blob.
ENCODED_COMMAND = re.compile(r'(?:^|\s)[-/]e(?:c|nc\w*)?\s+[a-z0-9+/]{20,}={0,2}', re.IGNORECASE)
# Command-line fragments of download-and-run PowerShell.
DOWNLOAD_CRADLES = (
    'downloadstring',
    'downloadfile',
    'frombase64string',
    'invoke-webrequest',
    'invoke-expression',
    'iex(',
    'iex (',
)
PROCESS_CREATE = 1


@rule(
    logs=['sysmon:event'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'EventData': ['Image', 'ParentImage', 'CommandLine']},
)
def sysmon_suspicious_process(rec):
    """
    author:       sa
    description:  A shell started from an Office application or script host, or PowerShell
                  ran an encoded/downloaded command: the usual first stage of a malicious
                  document.
    playbook:     Isolate the host (Computer), collect the parent document and decode the
                  command line.
    reference:    https://attack.mitre.org/techniques/T1059/001/
    """
    if rec['EventID'] != PROCESS_CREATE:
        return False
    data = rec['EventData']
    image = ntpath.basename(lower(data['Image']))
    parent = ntpath.basename(lower(data['ParentImage']))
    if image in SHELLS and parent in OFFICE_PARENTS:
        return True
    if image not in ('powershell.exe', 'pwsh.exe'):
        return False
    command_line = lower(data['CommandLine'])
    return bool(ENCODED_COMMAND.search(command_line)) or any(
        cradle in command_line for cradle in DOWNLOAD_CRADLES
    )
