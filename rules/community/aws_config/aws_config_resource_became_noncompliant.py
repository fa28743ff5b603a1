"""AWS Config rule found a production resource newly non-compliant."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS
from rules.matchers.aws import prod_account


@rule(
    logs=['aws_config:compliance_change'],
    outputs=REVIEW_OUTPUTS,
    matchers=[prod_account],
    req_subkeys={'newEvaluationResult': ['complianceType']},
    merge_by_keys=['configRuleName'],
    merge_window_mins=60,
)
def aws_config_resource_became_noncompliant(rec):
    """
    author:       sa
    description:  An AWS Config rule evaluated a production resource as NON_COMPLIANT when it
                  was compliant (or never evaluated) before. Changes are merged per Config
                  rule for an hour.
    playbook:     Open the rule's evaluation (configRuleName, resourceId) and fix or except
                  the resource.
    reference:    https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config.html
    """
    previous = (rec['oldEvaluationResult'] or {}).get('complianceType')
    return (
        rec['newEvaluationResult']['complianceType'] == 'NON_COMPLIANT'
        and previous != 'NON_COMPLIANT'
    )
