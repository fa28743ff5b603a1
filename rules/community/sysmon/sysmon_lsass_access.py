"""Process opened LSASS memory (Sysmon event 10): credential dumping."""

import ntpath

from streamalert.shared.publisher import DefaultPublisher
from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS, SOAR_OUTPUT, lower
from rules.publishers.generic import (
    remove_fields,
    remove_internal_fields,
    remove_streamalert_normalization,
)

PROCESS_ACCESS = 10
# Windows components that legitimately read LSASS.
EXPECTED_SOURCES = frozenset(
    ('wininit.exe', 'csrss.exe', 'svchost.exe', 'msmpeng.exe', 'lsm.exe', 'wmiprvse.exe')
)
# PROCESS_VM_READ; dumping tools request it, ordinary queries do not.
VM_READ = 0x0010


@rule(
    logs=['sysmon:event'],
    outputs=PAGE_OUTPUTS + [SOAR_OUTPUT],
    # The response automation gets the whole alert, without sa's bookkeeping fields and
    # without the stack trace (large, and useless to it).
    publishers=dict(
        ALERT_PUBLISHERS,
        **{
            SOAR_OUTPUT: [
                DefaultPublisher,
                remove_internal_fields,
                remove_streamalert_normalization,
                remove_fields,
            ]
        },
    ),
    context={'remove_fields': ['^CallTrace$']},
    req_subkeys={'EventData': ['SourceImage', 'TargetImage', 'GrantedAccess']},
)
def sysmon_lsass_access(rec, _):
    """
    author:       sa
    description:  A process other than the expected Windows components opened lsass.exe with
                  memory-read access (mimikatz, procdump -ma lsass, comsvcs MiniDump).
    playbook:     Isolate the host; all credentials cached on it must be considered stolen.
    reference:    https://attack.mitre.org/techniques/T1003/001/
    """
    if rec['EventID'] != PROCESS_ACCESS:
        return False
    data = rec['EventData']
    if ntpath.basename(lower(data['TargetImage'])) != 'lsass.exe':
        return False
    if ntpath.basename(lower(data['SourceImage'])) in EXPECTED_SOURCES:
        return False
    try:
        granted = int(str(data['GrantedAccess']), 0)
    except ValueError:
        return True  # an unparsable mask is itself odd for a Sysmon record
    return bool(granted & VM_READ)
