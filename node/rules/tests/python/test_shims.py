"""Behaviour of sa's streamalert.* shim modules, checked against the compat spec.

Run by tests/shims.rs inside sa's embedded interpreter: every test_* function is called."""
import copy
import datetime
import importlib
import sys


def fresh(module_name):
    """A fresh copy of a shim module (and the shim modules it imports): registries start empty."""
    for name in [n for n in sys.modules if n.startswith('streamalert')]:
        del sys.modules[name]
    return importlib.import_module(module_name)


def raises(exception, function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except exception as error:
        return error
    raise AssertionError('{} did not raise {}'.format(function, exception.__name__))


# --- streamalert.shared.rule (docs/spec §9.1, C.1) ---------------------------------------------------

def test_rule_decorator_registers_rule_objects_by_function_name():
    rule_module = fresh('streamalert.shared.rule')

    @rule_module.rule(logs=['a:b'], outputs=['slack:x'], merge_by_keys=['k'], merge_window_mins=5)
    def my_rule(rec):
        """author: me"""
        return True

    assert isinstance(my_rule, rule_module.Rule)
    assert rule_module.Rule.get_rule('my_rule') is my_rule
    assert rule_module.Rule.rule_names() == ['my_rule']
    assert my_rule.description == 'author: me'
    assert my_rule.outputs_set == {'slack:x'}
    assert my_rule.dynamic_outputs_set == set()
    assert my_rule.merge_by_keys == ['k'] and my_rule.merge_window_mins == 5
    assert my_rule.context is None and my_rule.initial_context is None
    assert rule_module.Rule.rules_for_log_type('a:b') == [my_rule]
    assert rule_module.Rule.rules_for_log_type('c:d') == []


def test_rule_requires_logs_or_datatypes_keyword_only_and_unique_names():
    rule_module = fresh('streamalert.shared.rule')
    raises(rule_module.RuleCreationError, rule_module.rule(outputs=['x:y']), lambda rec: True)
    raises(TypeError, rule_module.rule, 'positional_name')

    def dup(rec):
        return True
    rule_module.rule(datatypes=['sourceAddress'])(dup)
    error = raises(rule_module.RuleCreationError, rule_module.rule(logs=['a:b']), dup)
    assert 'dup' in str(error)
    assert [r.name for r in rule_module.Rule.rules_with_datatypes()] == ['dup']
    assert rule_module.Rule.get_rule('dup').description == 'No rule description provided'


def test_disable_marks_the_rule_and_lists_it():
    rule_module = fresh('streamalert.shared.rule')

    @rule_module.disable
    @rule_module.rule(logs=['a:b'])
    def off(rec):
        return True

    assert off.disabled
    assert rule_module.Rule.disabled_rules() == {'off'}


def test_process_deep_copies_context_and_swallows_exceptions():
    rule_module = fresh('streamalert.shared.rule')
    initial = {'nested': {'n': 0}}

    @rule_module.rule(logs=['a:b'], context=initial)
    def with_context(rec, context):
        context['nested']['n'] += 1
        return rec['fire']

    assert with_context.process({'fire': 1}) == 1
    assert with_context.context == {'nested': {'n': 1}}
    assert initial == {'nested': {'n': 0}}
    assert with_context.process({}) is False  # KeyError swallowed

    @rule_module.rule(logs=['a:b'], context={})
    def one_argument(rec):
        return True
    assert one_argument.process({}) is False  # wrong arity is an exception too


def test_matchers_short_circuit_and_a_raising_matcher_is_false():
    rule_module = fresh('streamalert.shared.rule')
    calls = []

    def no(rec):
        calls.append('no')
        return 0

    def never(rec):
        calls.append('never')
        return True

    def boom(rec):
        raise ValueError()

    @rule_module.rule(logs=['a:b'], matchers=[no, never])
    def first(rec):
        return True

    @rule_module.rule(logs=['a:b'], matchers=[boom])
    def second(rec):
        return True

    assert first.check_matchers({}) is False and calls == ['no']
    assert second.check_matchers({}) is False


def test_is_staged_reads_the_rule_table():
    rule_module = fresh('streamalert.shared.rule')

    class Table:
        def rule_info(self, name):
            return {'Staged': True} if name == 'staged' else None

    @rule_module.rule(logs=['a:b'])
    def staged(rec):
        return True

    @rule_module.rule(logs=['a:b'])
    def live(rec):
        return True

    assert staged.is_staged(Table()) and not live.is_staged(Table()) and not staged.is_staged(None)


def test_checksum_ignores_the_docstring_but_not_the_code():
    rule_module = fresh('streamalert.shared.rule')
    namespace = {'rule': rule_module.rule}
    exec(compile('@rule(logs=["a"])\ndef one(r):\n    """doc"""\n    return 1\n', '<a>', 'exec'), namespace)
    assert len(namespace['one'].checksum) in (32, len('checksum unknown'))


# --- streamalert.shared.publisher (docs/spec §13, C.2) -----------------------------------------------

def test_register_functions_and_classes_under_module_dot_name():
    publisher = fresh('streamalert.shared.publisher')
    repository = publisher.AlertPublisherRepository

    def add_one(alert, publication):
        publication['n'] = publication.get('n', 0) + 1
        return publication

    class Title(publisher.AlertPublisher):
        def publish(self, alert, publication):
            publication['title'] = alert
            return publication

    assert publisher.Register(add_one) is add_one
    assert publisher.Register(Title) is Title
    name = __name__ + '.add_one'
    assert repository.has_publisher(name)
    assert repository.get_publisher_name(Title) == __name__ + '.Title'
    assert isinstance(repository.get_publisher(__name__ + '.Title'), Title)
    assert repository.has_publisher('streamalert.shared.publisher.DefaultPublisher')
    raises(publisher.PublisherRegistrationError, publisher.Register, add_one)
    raises(publisher.PublisherRegistrationError, publisher.Register, 'not callable')
    raises(publisher.PublisherRegistrationError, publisher.Register, dict)

    composite = repository.create_composite_publisher([name, 'missing.name', name, __name__ + '.Title'])
    start = {}
    assert composite.publish('A', start) == {'n': 2, 'title': 'A'}
    assert start == {}
    default = repository.create_composite_publisher(['missing.name'])
    assert isinstance(default, publisher.DefaultPublisher)


def test_composite_passes_deep_copies_and_reraises_key_errors():
    publisher = fresh('streamalert.shared.publisher')
    seen = []

    class Keep(publisher.AlertPublisher):
        def publish(self, alert, publication):
            publication.setdefault('list', []).append(1)
            seen.append(publication)
            return publication

    class Broken(publisher.AlertPublisher):
        def publish(self, alert, publication):
            return publication['missing']

    composite = publisher.CompositePublisher([Keep(), Keep()])
    result = composite.publish(None, {})
    assert result == {'list': [1, 1]} and seen[0] == {'list': [1]}
    raises(KeyError, publisher.CompositePublisher([Broken()]).publish, None, {})


def test_compose_alert_resolves_service_then_descriptor_entries():
    helpers = fresh('streamalert.alert_processor.helpers')
    publisher = sys.modules['streamalert.shared.publisher']
    alert_module = importlib.import_module('streamalert.shared.alert')

    def tag(value):
        def publish(alert, publication):
            publication.setdefault('tags', []).append(value)
            return publication
        publish.__name__ = 'tag_' + value
        publisher.Register(publish)
        return __name__ + '.tag_' + value

    a, b = tag('a'), tag('b')

    class Output:
        __service__ = 'slack'

    alert = alert_module.Alert('r', {'k': 1}, {'slack:chan'}, publishers={'slack': a, 'slack:chan': [b]})
    assert helpers.compose_alert(alert, Output(), 'chan') == {'tags': ['a', 'b']}
    assert helpers.compose_alert(alert, Output(), 'other') == {'tags': ['a']}
    alert.publishers = [b, a]
    assert helpers.compose_alert(alert, Output(), 'chan') == {'tags': ['b', 'a']}
    alert.publishers = {}
    assert helpers.compose_alert(alert, Output(), 'chan') == alert.output_dict()


def test_elide_string_middle():
    helpers = fresh('streamalert.alert_processor.helpers')
    assert helpers.elide_string_middle('short', 10) == 'short'
    assert helpers.elide_string_middle('abcdefghijklmnopqrstuvwxyz', 15) == 'abcde ... vwxyz'


# --- streamalert.shared.alert (docs/spec §10, C.3) ---------------------------------------------------

def _alert(alert_module, created, record, **kwargs):
    return alert_module.Alert('failed_login', record, {'aws-firehose:alerts', 'slack:sec'},
                              created=created, merge_by_keys=['user'],
                              merge_window=datetime.timedelta(minutes=5), **kwargs)


def test_alert_defaults_and_invalid_kwargs():
    alert_module = fresh('streamalert.shared.alert')
    raises(alert_module.AlertCreationError, alert_module.Alert, 'r', {}, set(), colour='red')
    alert = alert_module.Alert('r', {}, {'b:x', 'a:y'}, cluster='')
    assert alert.cluster is None and alert.context == {} and alert.attempts == 0
    assert alert.dispatched == datetime.datetime(1970, 1, 1) and alert.staged is False
    assert len(alert.alert_id) == 36 and not alert.merge_enabled
    assert alert.remaining_outputs == {'b:x', 'a:y'}
    assert alert.dynamo_key == {'RuleName': 'r', 'AlertID': alert.alert_id}
    out = alert.output_dict()
    assert list(out) == ['cluster', 'context', 'created', 'id', 'log_source', 'log_type', 'outputs',
                         'publishers', 'record', 'rule_description', 'rule_name', 'source_entity',
                         'source_service', 'staged']
    assert out['outputs'] == ['a:y', 'b:x'] and out['cluster'] == '' and out['publishers'] == {}


def test_dynamo_record_round_trips():
    alert_module = fresh('streamalert.shared.alert')
    created = datetime.datetime(2020, 1, 1)
    alert = _alert(alert_module, created, {'user': 'bob', 'n': 1}, cluster='prod', staged=True,
                   outputs_sent={'aws-firehose:alerts'})
    record = alert.dynamo_record()
    assert record['Created'] == '2020-01-01T00:00:00.000000Z'
    assert record['MergeWindowMins'] == 5 and record['Publishers'] is None
    assert record['Record'] == '{"user":"bob","n":1}'
    back = alert_module.Alert.create_from_dynamo_record(record)
    assert back.dynamo_record() == record
    assert back.remaining_outputs == set()
    raises(alert_module.AlertCreationError, alert_module.Alert.create_from_dynamo_record, {'RuleName': 'x'})


def test_merge_matches_the_worked_example_of_appendix_e():
    alert_module = fresh('streamalert.shared.alert')
    first = _alert(alert_module, datetime.datetime(2020, 1, 1, 0, 0),
                   {'time': 1, 'user': 'bob', 'result': 'fail', 'src': {'ip': '1.1.1.1', 'port': 22}})
    second = _alert(alert_module, datetime.datetime(2020, 1, 1, 0, 2),
                    {'time': 2, 'user': 'bob', 'result': 'fail', 'src': {'ip': '2.2.2.2', 'port': 22}})
    assert first.can_merge(second) and second.can_merge(first)
    merged = alert_module.Alert.merge([second, first])
    assert merged.record == {
        'AlertCount': 2,
        'AlertTimeFirst': '2020-01-01T00:00:00.000000Z',
        'AlertTimeLast': '2020-01-01T00:02:00.000000Z',
        'MergedBy': {'user': 'bob'},
        'OtherCommonKeys': {'result': 'fail', 'src': {'port': 22}},
        'ValueDiffs': {
            '2020-01-01T00:00:00.000000Z': {'time': 1, 'src': {'ip': '1.1.1.1'}},
            '2020-01-01T00:02:00.000000Z': {'time': 2, 'src': {'ip': '2.2.2.2'}},
        },
    }
    assert not merged.merge_enabled and merged.alert_id != first.alert_id
    late = _alert(alert_module, datetime.datetime(2020, 1, 1, 0, 6), {'user': 'bob'})
    other = _alert(alert_module, datetime.datetime(2020, 1, 1, 0, 1), {'user': 'eve'})
    assert not first.can_merge(late) and not first.can_merge(other)


# --- streamalert.shared.normalize and utils (docs/spec §7.5, C.4, C.5) -------------------------------

def test_normalized_values_are_collected_into_a_set():
    normalize = fresh('streamalert.shared.normalize')
    record = {'streamalert_normalization': {
        'ip': [{'function': 'a', 'values': ['1.1.1.1', '2.2.2.2']}, {'function': 'b', 'values': ['1.1.1.1']}]}}
    assert normalize.Normalizer.get_values_for_normalized_type(record, 'ip') == {'1.1.1.1', '2.2.2.2'}
    assert normalize.Normalizer.get_values_for_normalized_type(record, 'user') == set()
    assert normalize.Normalizer.get_values_for_normalized_type({}, 'ip') == set()
    assert normalize.Normalizer.NORMALIZATION_KEY == 'streamalert_normalization'
    assert normalize.Normalizer.RECORD_ID_KEY == 'streamalert_record_id'
    assert normalize.CONST_ARTIFACTS_FLAG == 'send_to_artifacts'


def test_get_keys_is_breadth_first_and_skips_normalization():
    utils = fresh('streamalert.shared.utils')
    data = {'a': {'k': 'deep', 'b': {'k': 'deeper'}}, 'k': 'top', 'l': [{'k': 'in list'}, {}],
            'streamalert_normalization': {'k': 'hidden'}}
    assert utils.get_keys(data, 'k') == ['top', 'deep', 'deeper', 'in list']
    assert utils.get_keys(data, 'k', max_matches=2) == ['top', 'deep']
    assert utils.get_first_key(data, 'k') == 'top'
    assert utils.get_first_key(data, 'nope', 'default') == 'default'
    assert utils.get_keys([{'k': 1}, [{'k': 2}]], 'k') == [1, 2]


def test_valid_ip_follows_netaddr_leniency():
    utils = fresh('streamalert.shared.utils')
    for good in ('1.2.3.4', '127.1', '10', '0x7f.1', 'fe80::1', '2001:db8::', 12345):
        assert utils.valid_ip(good), good
    for bad in ('::1', '1.2.3.4.5', '256.1.1.1', 'host', '', None, '1.2.3.4 ', [], True):
        assert not utils.valid_ip(bad), bad


def test_in_network_skips_invalid_cidrs():
    utils = fresh('streamalert.shared.utils')
    assert utils.in_network('10.1.2.3', ['bogus', '10.0.0.0/8'])
    assert not utils.in_network('11.1.2.3', ['10.0.0.0/8'])
    assert utils.in_network('10.1.2.3', ['10.1.2.0/24'])
    assert utils.in_network('2001:db8::5', ['2001:db8::/32', '10.0.0.0/8'])
    assert not utils.in_network('not-an-ip', ['0.0.0.0/0'])
    assert utils.in_network('10.1.2.3', {'10.1.0.0/16'})


def test_athena_helpers():
    utils = fresh('streamalert.shared.utils')
    config = {'global': {'account': {'prefix': 'acme'}}, 'lambda': {}}
    assert utils.get_database_name(config) == 'acme_streamalert'
    config['lambda']['athena_partitioner_config'] = {'database_name': 'db', 'file_format': 'json'}
    assert utils.get_database_name(config) == 'db' and utils.get_data_file_format(config) == 'json'


# --- description parser (docs/spec §13.6, C.7) ------------------------------------------------------

def test_description_parser_parses_fields():
    description = fresh('streamalert.shared.description')
    parser = description.RuleDescriptionParser
    text = '''
        Intro line
        author: Jane Doe
        reference: https://example.com/
          a/very/long/path
        playbook: step one

          step two
        https: not a field
    '''
    parsed = parser.parse(text)
    assert list(parsed) == ['description', 'author', 'reference', 'playbook']
    assert parsed['playbook'] == ['step one', '', 'step two', 'https: not a field']
    presented = parser.present(text)
    assert presented['author'] == 'Jane Doe'
    assert presented['description'] == 'Intro line'
    assert presented['fields']['reference'] == 'https://example.com/a/very/long/path'
    assert presented['fields']['playbook'] == 'step one\nstep two https: not a field'
    assert parser.present('maintainer: ops')['author'] == 'ops'
    assert parser.present(None) == {'author': '', 'description': '', 'fields': {}}


# --- lookup tables, threat intel, logger, config, scheduled queries -------------------------

def test_lookup_tables_without_a_source_return_defaults():
    core = fresh('streamalert.shared.lookup_tables.core')
    assert core.LookupTables.get('t', 'k', 'fallback') == 'fallback'
    table = core.LookupTables.get_instance().table('t')
    assert table.driver_type == 'null' and table.table_name == 't' and table.get('k') is None
    assert core.LookupTables.get_instance() is core.LookupTables.get_instance()
    engine = importlib.import_module('streamalert.rules_engine.rules_engine')
    assert engine.RulesEngine.get_lookup_table('t').get('k', 1) == 1
    utils = importlib.import_module('streamalert.shared.lookup_tables.utils')
    assert utils.LookupTablesMagic.get_lookup_table('t').driver_id == 'null:t'


def test_threat_intel_key():
    threat_intel = fresh('streamalert.rules_engine.threat_intel')
    assert threat_intel.ThreatIntel.IOC_KEY == 'streamalert:ioc'
    assert threat_intel.ThreatIntel.iocs({'streamalert:ioc': {'ip': ['1.1.1.1']}}, 'ip') == {'1.1.1.1'}


def test_logger_levels():
    logger_module = fresh('streamalert.shared.logger')
    assert logger_module.get_logger('x', 'debug').level == 10
    assert logger_module.get_logger('y').level == 20


def test_load_config_reads_files_clusters_and_schemas():
    import json
    import os
    import tempfile
    config_module = fresh('streamalert.shared.config')
    with tempfile.TemporaryDirectory() as conf:
        os.makedirs(os.path.join(conf, 'clusters'))
        os.makedirs(os.path.join(conf, 'schemas'))
        with open(os.path.join(conf, 'global.json'), 'w') as handle:
            json.dump({'account': {'prefix': 'p'}}, handle)
        with open(os.path.join(conf, 'clusters', 'prod.json'), 'w') as handle:
            json.dump({'data_sources': {}}, handle)
        with open(os.path.join(conf, 'schemas', 'a.json'), 'w') as handle:
            json.dump({'a:b': {'schema': {}, 'parser': 'json'}}, handle)
        config = config_module.load_config(conf)
    assert config['global']['account']['prefix'] == 'p'
    assert list(config['clusters']) == ['prod'] and list(config['logs']) == ['a:b']


def test_query_packs_register_and_render():
    configuration = fresh('streamalert.scheduled_queries.query_packs.configuration')
    pack = configuration.QueryPackConfiguration(
        name='q', description='d', query="SELECT * WHERE dt = '{utcdatehour}'",
        params=['utcdatehour'], tags=['hourly'])
    assert configuration.QueryPackRepository.QUERY_PACKS['q'] is pack
    assert pack.generate_query(datetime.datetime(2020, 1, 2, 3)) == "SELECT * WHERE dt = '2020-01-02-03'"
    raises(RuntimeError, configuration.QueryPackConfiguration, name='q', query='x', tags=['t'])


# --- compatibility pieces and the finder ----------------------------------------------------

def test_cgi_escape_is_python2s():
    import cgi  # pylint: disable=deprecated-module
    assert cgi.escape('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'
    assert cgi.escape('"q"', quote=True) == '&quot;q&quot;'


def test_pathlib2_falls_back_to_pathlib():
    import pathlib
    import pathlib2
    assert pathlib2.PurePosixPath is pathlib.PurePosixPath


def test_streamalert_modules_come_from_sa_only():
    module = fresh('streamalert.shared.rule')
    assert module.__file__.startswith('<sa>/')
    error = raises(ModuleNotFoundError, importlib.import_module, 'streamalert.classifier.classifier')
    assert 'sa provides streamalert' in str(error)
    import inspect
    assert 'def rule(' in inspect.getsource(module)


def test_netaddr_falls_back_to_sa_s_version_with_netaddr_leniency():
    import netaddr
    from netaddr.core import AddrFormatError
    assert AddrFormatError is netaddr.AddrFormatError
    assert netaddr.IPAddress('127.1') == netaddr.IPAddress('127.0.0.1')
    assert netaddr.IPAddress('10.1.2.3') in netaddr.IPNetwork('10.0.0.0/8')
    assert '10.1.2.3' in netaddr.IPNetwork('10.0.0.1/8')
    assert '2001:db8::1' not in netaddr.IPNetwork('10.0.0.0/8')
    assert netaddr.IPAddress('192.168.1.1').is_private() and netaddr.IPAddress('::2').version == 6
    raises(AddrFormatError, netaddr.IPAddress, 'not an ip')
    raises(AddrFormatError, netaddr.IPNetwork, '10.0.0.0/99')
    assert netaddr.valid_ipv4('1.2.3.4') and not netaddr.valid_ipv6('1.2.3.4')
