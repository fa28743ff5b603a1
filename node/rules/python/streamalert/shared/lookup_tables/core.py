"""streamalert.shared.lookup_tables.core: LookupTables served from sa's tables (docs/spec §14.2).

sa answers every lookup from Rust (the node's replicated tables, or a test event's fixtures);
this module only adapts StreamAlert's API to it."""
import _sa_native

from streamalert.shared.logger import get_logger

LOGGER = get_logger(__name__)


class LookupTable:
    """One table; unknown tables behave like StreamAlert's null table (always the default)."""

    def __init__(self, table_name, driver_type):
        self.table_name = table_name
        self.driver_type = driver_type

    @property
    def driver_id(self):
        return '{}:{}'.format(self.driver_type, self.table_name)

    def get(self, key, default=None):
        found, value = _sa_native.lookup_get(self.table_name, key)
        return value if found else default

    def __repr__(self):
        return '<LookupTable {}>'.format(self.driver_id)


class LookupTablesCore:
    """What LookupTables.get_instance() returns."""

    def __init__(self, config=None):
        self._config = config

    def table(self, table_name):
        driver_type = _sa_native.lookup_driver(table_name)
        if driver_type == 'null':
            LOGGER.error('Lookup table [%s] does not exist; using defaults', table_name)
        return LookupTable(table_name, driver_type)

    get_table = table

    def get(self, table_name, key, default=None):
        return self.table(table_name).get(key, default)

    def setup_tables(self):
        """Tables are set up by sa itself."""


class LookupTables:
    """The process-wide entry point: LookupTables.get(table, key, default)."""

    _instance = None

    @classmethod
    def get_instance(cls, config=None, reset=False):
        if cls._instance is None or reset:
            cls._instance = LookupTablesCore(config)
        return cls._instance

    @classmethod
    def get(cls, table_name, key, default=None):
        return cls.get_instance().get(table_name, key, default)
