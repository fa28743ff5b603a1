"""Carbon Black Response watchlist hit."""

from streamalert.shared.rule import rule

from rules.helpers.base import REVIEW_OUTPUTS

# Watchlists that tag inventory rather than threats.
INFORMATIONAL_WATCHLISTS = frozenset(('Newly Loaded Modules', 'Newly Executed Applications'))


@rule(
    logs=['carbonblack:watchlist.hit.process'],
    outputs=REVIEW_OUTPUTS,
    merge_by_keys=['watchlist_id', 'computer_name'],
    merge_window_mins=60,
)
def carbonblack_watchlist_hit(rec):
    """
    author:       sa
    description:  A process matched a Carbon Black watchlist that describes a threat (the
                  inventory watchlists are ignored). Hits of one watchlist on one host are
                  merged for an hour.
    playbook:     Open the process (docs[].unique_id) in Carbon Black and follow its tree.
    reference:    https://developer.carbonblack.com/reference/enterprise-response/event-forwarder/
    """
    return rec['watchlist_name'] not in INFORMATIONAL_WATCHLISTS and bool(rec['docs'])
