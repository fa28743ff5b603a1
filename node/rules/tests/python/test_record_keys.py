"""sa's analysis of which record keys a rule can read (_sa_record_keys).

Run by tests/shims.rs inside sa's embedded interpreter: every test_* function is called. The
functions analysed are defined in this file, whose source the analysis reads."""
import functools
import json
import os
import sys
import types

import _sa_record_keys
from _sa_record_keys import RecordKeys
from streamalert.rules_engine.threat_intel import ThreatIntel
from streamalert.shared.normalize import Normalizer

HELPERS = types.ModuleType('helpers')


def keys_of(*functions):
    keys = RecordKeys().of_rule(functions)
    return None if keys is None else sorted(keys)


# --- understood uses ------------------------------------------------------------------------

def literal_reads(rec):
    if 'eventName' not in rec:
        return False
    identity = rec.get('userIdentity') or {}
    return rec['eventName'] == 'X' and identity.get('type') == 'Root' and rec.get('errorCode', 1)


def writes_and_deletes(rec, context):
    rec['added'] = 1
    rec['counter'] += 1
    del rec['gone']
    context['seen'] = rec['seen']
    return True


def matcher(record):
    return record.get('account') in ('1', '2')


def dynamic_output(record, context=None):
    return 'slack:{}'.format(record['team'])


def uses_a_module(rec):
    try:
        return json.loads(rec['description'] or '{}')
    except ValueError:
        return None


def test_literal_subscripts_gets_and_membership_tests_name_the_keys():
    assert keys_of(literal_reads) == ['errorCode', 'eventName', 'userIdentity']


def test_a_function_is_analysed_as_compiled_in_its_module():
    # Alone, `json.loads` would compile to another instruction (json is imported by the
    # module), and the check that the source is the function's would fail.
    assert keys_of(uses_a_module) == ['description']


def test_stores_and_deletes_name_keys_too():
    assert keys_of(writes_and_deletes) == ['added', 'counter', 'gone', 'seen']


def test_a_rule_needs_the_keys_of_its_matchers_and_dynamic_outputs():
    assert keys_of(literal_reads, matcher, dynamic_output) == [
        'account', 'errorCode', 'eventName', 'team', 'userIdentity']


def test_a_rule_that_never_touches_the_record_needs_no_key():
    def constant(rec):
        return True
    assert keys_of(constant) == []


# --- helpers the record is handed to --------------------------------------------------------

def domain_of(record):
    return record.get('query_name') or record.get('dns', {}).get('rrname')


def second_argument(prefix, record):
    return prefix + record['name']


def returns_the_record(record):
    return record['detail'] if 'detail-type' in record else record


def recursive(record, depth=0):
    return depth > 3 or recursive(record, depth + 1)


HELPERS.domain_of = domain_of


def uses_helpers(rec):
    return domain_of(rec) and second_argument('x', rec) and HELPERS.domain_of(rec)


def uses_returning_helper(rec):
    return returns_the_record(rec).get('severity')


def uses_recursive_helper(rec):
    return recursive(rec)


def test_keys_read_by_repository_functions_given_the_record_count():
    assert keys_of(uses_helpers) == ['dns', 'name', 'query_name']


def test_a_helper_that_lets_the_record_escape_or_recurses_needs_it_whole():
    assert keys_of(uses_returning_helper) is None
    assert keys_of(uses_recursive_helper) is None


def test_a_call_through_a_local_name_or_a_builtin_needs_the_record_whole():
    def local_helper(rec):
        domain_of = print
        return domain_of(rec)

    def parameter_helper(rec, helper=domain_of):
        return helper(rec)

    def builtin(rec):
        return len(rec)

    def method_of_an_object(rec):
        return json.dumps(rec)

    def starred(rec):
        return second_argument(*['x'], rec)

    def keyword(rec):
        return domain_of(record=rec)

    for function in (local_helper, parameter_helper, builtin, method_of_an_object, starred,
                     keyword):
        assert keys_of(function) is None, function.__name__


# --- constants, classmethods and staticmethods ------------------------------------------------

KEY = 'module_constant'


class Keys:
    NAME = 'name'
    NOT_A_STRING = 3

    @classmethod
    def read(cls, record):
        return record.get(cls.NAME)

    @staticmethod
    def read_static(record):
        return record['static']

    def plain(record):  # pylint: disable=no-self-argument
        return record['plain']

    @property
    def attribute(self):
        return None


def uses_constants_and_methods(rec):
    return (rec[KEY] and rec.get(Keys.NAME) and Keys.read(rec) and Keys.read_static(rec)
            and Keys.plain(rec))


def test_string_constants_of_modules_and_classes_are_keys_and_methods_are_followed():
    assert keys_of(uses_constants_and_methods) == ['module_constant', 'name', 'plain', 'static']


def test_the_shim_helpers_rules_hand_the_record_to_read_one_key():
    def normalized(rec):
        return Normalizer.get_values_for_normalized_type(rec, 'sourceAddress')

    def iocs(rec):
        return ThreatIntel.iocs(rec, 'ip') or rec.get(ThreatIntel.IOC_KEY)

    assert keys_of(normalized) == [Normalizer.NORMALIZATION_KEY]
    assert keys_of(iocs) == [ThreatIntel.IOC_KEY]


def test_a_key_that_is_not_a_string_constant_or_a_call_through_an_object_needs_the_whole_record():
    def not_a_string(rec):
        return rec[Keys.NOT_A_STRING]

    def a_class(rec):
        return rec.get(Keys)

    def unknown_attribute(rec):
        return rec[Keys.MISSING]

    def through_an_instance(rec):
        return Keys().read(rec)

    def through_a_property(rec):
        return Keys.attribute(rec)

    for function in (not_a_string, a_class, unknown_attribute, through_an_instance,
                     through_a_property):
        assert keys_of(function) is None, function.__name__


class Meta(type):
    @property
    def KEY(cls):  # pylint: disable=invalid-name
        return 'b'

    def probe(cls, record):
        return record['probe']


class WithMeta(metaclass=Meta):
    KEY = 'a'


class Base:
    NAME = 'base'

    @classmethod
    def read(cls, record):
        return record.get(cls.NAME)


class Derived(Base):
    NAME = 'derived'


class LooksLikeAnotherKey(str):
    def __hash__(self):
        return hash('b')

    def __eq__(self, other):
        return True


DISGUISED = LooksLikeAnotherKey('a')


class ModuleSubclass(types.ModuleType):
    pass


ODD_MODULE = ModuleSubclass('odd')
ODD_MODULE.domain_of = domain_of


def test_classes_with_a_metaclass_and_module_subclasses_are_not_looked_through():
    def metaclass_property(rec):
        return rec[WithMeta.KEY]

    def metaclass_method(rec):
        return WithMeta.probe(rec)

    def odd_module(rec):
        return ODD_MODULE.domain_of(rec)

    def disguised_key(rec):
        return rec[DISGUISED]

    for function in (metaclass_property, metaclass_method, odd_module, disguised_key):
        assert keys_of(function) is None, function.__name__


def test_a_classmethod_is_analysed_for_the_class_it_is_called_on():
    def base(rec):
        return Base.read(rec)

    def derived(rec):
        return Derived.read(rec)

    analysis = RecordKeys()
    assert analysis.of_rule([base]) == {'base'}
    assert analysis.of_rule([derived]) == {'derived'}


def test_reaching_the_record_through_closures_frames_or_the_heap_needs_it_whole():
    import builtins  # pylint: disable=import-outside-toplevel
    import gc  # pylint: disable=import-outside-toplevel
    import traceback  # pylint: disable=import-outside-toplevel

    def closure_cell(rec):
        def inner():
            return rec['a']
        return inner.__closure__[0].cell_contents

    def builtins_locals(rec):
        return builtins.locals()['rec']['a']

    def captured_locals(rec):
        try:
            return rec['a']
        except KeyError as error:
            return traceback.TracebackException.from_exception(error, capture_locals=True)

    def referrers(rec):
        return gc.get_referrers(rec['c'])

    def generator_locals(rec):
        def walk():
            yield rec['a']
        return walk().gi_frame

    def imported_inside(rec):
        import inspect  # pylint: disable=import-outside-toplevel,redefined-outer-name
        return rec['a'] and inspect.stack()

    def imported_from(rec):
        from traceback import TracebackException  # pylint: disable=import-outside-toplevel
        return rec['a'] and TracebackException

    for function in (closure_cell, builtins_locals, captured_locals, referrers,
                     generator_locals, imported_inside, imported_from):
        assert keys_of(function) is None, function.__name__


def test_ordinary_names_that_sound_like_introspection_do_not_cost_the_view():
    import re  # pylint: disable=import-outside-toplevel

    def regex(rec):
        return re.compile(r'^a').match(rec['x'])

    def local_names(rec):
        stack, trace, dir = [rec['a']], rec.get('b'), 'c'  # pylint: disable=redefined-builtin
        return stack and trace and dir

    assert keys_of(regex) == ['x']
    assert keys_of(local_names) == ['a', 'b']


def test_an_analysis_that_fails_gives_the_whole_record_and_does_not_stop_the_load():
    import _sa_runtime  # pylint: disable=import-outside-toplevel

    class Failing(RecordKeys):
        def of_rule(self, functions):
            raise RecursionError('maximum recursion depth exceeded')

    rule_like = types.SimpleNamespace(func=literal_reads, matchers=None, dynamic_outputs=None)
    assert _sa_runtime._record_keys(Failing(), rule_like) is None  # pylint: disable=protected-access


def test_a_key_that_cannot_cross_into_rust_gives_the_whole_record():
    import _sa_runtime  # pylint: disable=import-outside-toplevel

    def surrogate(rec):
        return rec.get('\udc80')

    rule_like = types.SimpleNamespace(func=surrogate, matchers=None, dynamic_outputs=None)
    assert keys_of(surrogate) == ['\udc80']
    assert _sa_runtime._record_keys(RecordKeys(), rule_like) is None  # pylint: disable=protected-access


# --- uses that need the whole record --------------------------------------------------------

def test_any_other_use_of_the_record_needs_it_whole():
    def iterates(rec):
        return any(key.startswith('x') for key in rec)

    def truthiness(rec):
        return bool(rec)

    def variable_key(rec):
        key = 'a'
        return rec[key]

    def variable_get(rec):
        return rec.get('a' + 'b')

    def other_method(rec):
        return rec.items()

    def returned(rec):
        return rec

    def stored(rec):
        literal_reads.last = rec

    def compared(rec):
        return rec == {}

    def in_a_lambda(rec):
        return (lambda: rec)()['a']

    for function in (iterates, truthiness, variable_key, variable_get, other_method, returned,
                     stored, compared, in_a_lambda):
        assert keys_of(function) is None, function.__name__


def test_rebinding_or_reaching_the_name_without_naming_it_needs_the_record_whole():
    def reassigned(rec):
        rec = {'a': 1}
        return rec['a']

    def walrus(rec):
        return (rec := {})['a']

    def shadowed_in_a_nested_function(rec):
        def inner(rec):
            return rec
        return inner(rec['a'])

    def exception_name(rec):
        try:
            return rec['a']
        except KeyError as rec:
            return rec

    def through_locals(rec):
        return locals()['rec']['a']

    def through_the_frame(rec):
        return sys._getframe().f_locals['rec']

    for function in (reassigned, walrus, shadowed_in_a_nested_function, exception_name,
                     through_locals, through_the_frame):
        assert keys_of(function) is None, function.__name__


def test_functions_whose_source_cannot_be_analysed_need_the_record_whole():
    @functools.wraps(literal_reads)
    def wrapper(rec):
        return literal_reads(rec)

    class Callable:
        def __call__(self, rec):
            return rec['a']

    namespace = {}
    exec('def generated(rec):\n    return rec["a"]\n', namespace)  # pylint: disable=exec-used

    for function in (wrapper, Callable(), namespace['generated'], lambda rec: rec['a'],
                     functools.partial(second_argument, 'x')):
        assert keys_of(function) is None, function


def test_a_function_whose_file_changed_since_it_was_imported_needs_the_record_whole():
    namespace = {}
    path = '/tmp/sa_record_keys_{}.py'.format(id(namespace))
    with open(path, 'w') as source:
        source.write("def reads(rec):\n    return rec['before']\n")
    exec(compile(open(path).read(), path, 'exec'), namespace)  # pylint: disable=exec-used
    assert keys_of(namespace['reads']) == ['before']
    with open(path, 'w') as source:
        source.write("def reads(rec):\n    return rec['after!']\n")
    assert keys_of(namespace['reads']) is None
    os.remove(path)


def test_answers_are_remembered_per_function_and_argument_position():
    analysis = RecordKeys()
    assert analysis.of(second_argument, 1) == frozenset({'name'})
    assert analysis.of(second_argument, 0) is None
    assert analysis.of(second_argument, 2) is None
    assert (second_argument, 1, id(None)) in analysis._answers  # pylint: disable=protected-access
    assert _sa_record_keys.RecordKeys is RecordKeys
