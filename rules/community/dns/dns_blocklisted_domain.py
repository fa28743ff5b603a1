"""DNS lookup of a domain on the blocklist lookup table."""
from streamalert.shared.lookup_tables.core import LookupTables
from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

# conf/lookup_tables.json: {domain: {"source": feed, "category": ...}}.
BLOCKLIST_TABLE = 'dns_blocklist'


def parent_domains(name):
    """'a.b.evil.com.' -> ['a.b.evil.com', 'b.evil.com', 'evil.com']: a blocklisted domain
    covers its subdomains too (attackers rotate subdomains freely)."""
    labels = name.lower().rstrip('.').split('.')
    return ['.'.join(labels[index:]) for index in range(len(labels) - 1)]


@rule(
    logs=['packetbeat:dns'],
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    req_subkeys={'dns': ['question']},
    merge_by_keys=['client_ip'],
    merge_window_mins=60,
    context={},
)
def dns_blocklisted_domain(rec, context):
    """
    author:       sa
    description:  A host resolved a domain (or a subdomain of a domain) listed in the
                  dns_blocklist lookup table. The matching entry is in the alert's context.
    playbook:     Find the process behind the lookup on client_ip (osquery process_open_sockets)
                  and check the feed entry's category.
    reference:    https://attack.mitre.org/techniques/T1071/004/
    """
    question = rec['dns']['question'] or {}
    for domain in parent_domains(question.get('name') or ''):
        entry = LookupTables.get(BLOCKLIST_TABLE, domain)
        if entry is not None:
            context['blocklist_domain'] = domain
            context['blocklist_entry'] = entry
            return True
    return False
