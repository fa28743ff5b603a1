"""BinaryAlert found a YARA match in an uploaded binary."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

# Rules whose matches are informational (packers, installers) rather than malicious.
INFORMATIONAL_RULE_PREFIXES = ('hacktool_', 'eicar')


@rule(logs=['binaryalert'], outputs=REVIEW_OUTPUTS, publishers=ALERT_PUBLISHERS)
def binaryalert_yara_match(rec):
    """
    author:       sa
    description:  BinaryAlert matched at least one malware YARA rule on a binary; matches
                  only of informational rules (test files, packers) are ignored.
    playbook:     Find where the binary came from (FileInfo / S3 metadata) and the hosts that
                  ran it (CarbonBlack by SHA-256).
    reference:    https://github.com/airbnb/binaryalert
    """
    if int(rec['NumMatchedRules'] or 0) < 1:
        return False
    names = [match.get('RuleName', '') for match in rec['MatchedRules'].values()]
    return any(not name.lower().startswith(INFORMATIONAL_RULE_PREFIXES) for name in names)
