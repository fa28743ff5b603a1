"""Azure AD sign-in that Identity Protection rated high risk."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

RISKY_STATES = frozenset(('atRisk', 'confirmedCompromised'))


@rule(
    logs=['azure:signin'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'properties': ['riskLevelDuringSignIn', 'riskState', 'status']},
    merge_by_keys=['userPrincipalName'],
    merge_window_mins=60,
)
def azure_ad_risky_signin(rec):
    """
    author:       sa
    description:  A sign-in that Azure AD Identity Protection rated high risk (anonymous IP,
                  impossible travel, leaked credentials...) succeeded and is still at risk.
    playbook:     Confirm with the user; if not them, revoke their sessions
                  (Revoke-MgUserSignInSession) and reset the password.
    reference:    https://learn.microsoft.com/en-us/entra/id-protection/concept-identity-protection-risks
    """
    props = rec['properties']
    status = props['status'] or {}
    return (
        props['riskLevelDuringSignIn'] == 'high'
        and props['riskState'] in RISKY_STATES
        and str(status.get('errorCode')) == '0'
    )
