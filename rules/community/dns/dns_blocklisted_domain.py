"""DNS lookup of a domain on the blocklist lookup table."""

from streamalert.shared.lookup_tables.core import LookupTables
from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, REVIEW_OUTPUTS

# conf/lookup_tables.json: domain -> feed entry, e.g. {"source": "abuse-feed", "category": "c2"}.
BLOCKLIST_TABLE = 'dns_blocklist'

DNS_LOGS = [
    'route53:resolver_query',
    'crowdstrike:fdr_dns_request',
    'packetbeat:dns',
    'suricata:dns',
    'zeek:dns',
]

# Keys naming the querying host in each DNS log, in DNS_LOGS order (Packetbeat's client
# carries the ephemeral port, so its lookups seldom merge).
SOURCE_HOST_KEYS = ['srcaddr', 'aid', 'client', 'src_ip', 'id.orig_h']


def queried_domain(rec):
    """The name looked up, whichever DNS log the record comes from."""
    if 'query_name' in rec:  # Route 53 Resolver query log
        return rec['query_name']
    if 'DomainName' in rec:  # CrowdStrike FDR DnsRequest
        return rec['DomainName']
    dns = rec.get('dns')
    if isinstance(dns, dict):
        if isinstance(dns.get('question'), dict):  # Packetbeat
            return dns['question'].get('name')
        if dns.get('rrname'):  # Suricata EVE dns v1/v2
            return dns['rrname']
        queries = dns.get('queries') or [{}]  # Suricata EVE dns v3
        return queries[0].get('rrname')
    return rec.get('query')  # Zeek dns.log


def parent_domains(name):
    """'a.b.evil.com.' -> ['a.b.evil.com', 'b.evil.com', 'evil.com']: a blocklisted domain
    covers its subdomains too (attackers rotate subdomains freely)."""
    labels = name.lower().rstrip('.').split('.')
    return ['.'.join(labels[index:]) for index in range(len(labels) - 1)]


@rule(
    logs=DNS_LOGS,
    outputs=REVIEW_OUTPUTS,
    publishers=ALERT_PUBLISHERS,
    merge_by_keys=SOURCE_HOST_KEYS,
    merge_window_mins=60,
    context={},
)
def dns_blocklisted_domain(rec, context):
    """
    author:       sa
    description:  A host resolved a domain (or a subdomain of a domain) listed in the
                  dns_blocklist lookup table. The matching entry is copied to the alert's
                  context. Lookups are merged per querying host for an hour.
    playbook:     Find the process behind the lookup (osquery process_open_sockets, or the
                  CrowdStrike ContextProcessId) and check the feed entry's category.
    reference:    https://attack.mitre.org/techniques/T1071/004/
    """
    for domain in parent_domains(queried_domain(rec) or ''):
        entry = LookupTables.get(BLOCKLIST_TABLE, domain)
        if entry is not None:
            context['blocklist_domain'] = domain
            context['blocklist_entry'] = entry
            return True
    return False
