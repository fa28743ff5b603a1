"""streamalert.rules_engine.rules_engine: the legacy lookup-table helper (docs/spec §14.2).

sa's rules engine itself is Rust; only the helper user code calls is provided."""
from streamalert.shared.lookup_tables.core import LookupTables


class RulesEngine:
    """Exposes StreamAlert's RulesEngine.get_lookup_table."""

    @staticmethod
    def get_lookup_table(table_name):
        return LookupTables.get_instance().table(table_name)
