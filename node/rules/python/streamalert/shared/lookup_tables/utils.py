"""streamalert.shared.lookup_tables.utils: CLI helpers StreamAlert exposes (docs/spec Appendix C.10)."""
from streamalert.shared.lookup_tables.core import LookupTables


class LookupTablesMagic:
    """Read-only helpers over LookupTables; writes go through `sactl lookup-tables`."""

    @staticmethod
    def get_lookup_table(table_name, config=None):
        return LookupTables.get_instance(config=config).table(table_name)

    @staticmethod
    def get_all_tables(table_names, config=None):
        core = LookupTables.get_instance(config=config)
        return {name: core.table(name) for name in table_names}
