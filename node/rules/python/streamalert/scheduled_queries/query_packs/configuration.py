"""streamalert.scheduled_queries.query_packs.configuration: query pack declarations (docs/spec §18.2).

sa does not run scheduled queries yet; declarations import and render so repositories that
ship scheduled_queries/ load unchanged."""
from datetime import datetime, timedelta


class QueryPackConfiguration:
    """One scheduled query; registers itself on construction."""

    def __init__(self, query=None, params=None, name=None, description=None, tags=None):
        if not name:
            raise RuntimeError('Query Pack missing name')
        if not query:
            raise RuntimeError('Query Pack "{}" missing query template'.format(name))
        if not tags:
            raise RuntimeError('Query Pack "{}" has no tags'.format(name))
        self._query_template = query
        self._query_parameters = params or []
        self._name = name
        self._description = description
        self._tags = tags
        QueryPackRepository.register(self)

    @property
    def name(self):
        return self._name

    @property
    def description(self):
        return self._description

    @property
    def query_template(self):
        return self._query_template

    @property
    def query_parameters(self):
        return self._query_parameters

    @property
    def tags(self):
        return self._tags

    def generate_query(self, now=None):
        """The query with its parameters rendered for `now` (naive UTC datetime)."""
        now = now or datetime.utcnow()
        if isinstance(self._query_parameters, dict):
            values = {key: function(now) for key, function in self._query_parameters.items()}
        else:
            builtins = builtin_parameters(now)
            unknown = [key for key in self._query_parameters if key not in builtins]
            if unknown:
                raise KeyError('Query Pack "{}" uses unknown parameters {}'.format(
                    self._name, unknown))
            values = {key: builtins[key] for key in self._query_parameters}
        return self._query_template.format(**values)


def builtin_parameters(now):
    """StreamQuery's built-in parameters for `now`."""
    hour = '%Y-%m-%d-%H'
    return {
        'utcdatehour': now.strftime(hour),
        'utcdatehour_minus1hour': (now - timedelta(hours=1)).strftime(hour),
        'utcdatehour_minus2hour': (now - timedelta(hours=2)).strftime(hour),
        'utcdatehour_minus1day': (now - timedelta(days=1)).strftime(hour),
        'utcdatehour_minus2day': (now - timedelta(days=2)).strftime(hour),
        'utcdatehour_minus7day': (now - timedelta(days=7)).strftime(hour),
        'utctimestamp': str(int((now - datetime(1970, 1, 1)).total_seconds())),
        'utctimestamp_minus1hour': str(int((now - timedelta(hours=1) - datetime(1970, 1, 1))
                                           .total_seconds())),
        'utcisotime': str(int((now - datetime(1970, 1, 1)).total_seconds())),
    }


class QueryPackRepository:
    """Every declared query pack, by name."""

    QUERY_PACKS = {}

    @classmethod
    def register(cls, config):
        if config.name in cls.QUERY_PACKS:
            raise RuntimeError('Query Pack "{}" already registered'.format(config.name))
        cls.QUERY_PACKS[config.name] = config

    @classmethod
    def get_packs(cls):
        return cls.QUERY_PACKS.values()
