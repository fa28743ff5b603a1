"""sa's side of the rules engine inside the embedded interpreter.

Rust loads a repository through `load_repository`, reads the rule registry through
`rule_catalog`, and calls `evaluate` once per record with the rules Rust's pre-filter kept
(log type and req_subkeys already checked). Everything here runs on sa's rules thread."""
import importlib
import inspect
import os
import sys
import time
import traceback

FIREHOSE_OUTPUT = 'aws-firehose:alerts'

_state = {'root': None, 'rules': [], 'plans': [], 'staged': frozenset(), 'modules': [],
          'timing': None, 'publishers': None}


class RepositoryError(Exception):
    """One or more repository files failed to import; args[0] lists them."""


def _shim_modules():
    return [name for name in sys.modules if name == 'streamalert' or name.startswith('streamalert.')]


def reset():
    """Forget the loaded repository: its modules, its rules, its publishers, sys.path entry."""
    for name in _state['modules'] + _shim_modules():
        sys.modules.pop(name, None)
    root = _state['root']
    if root is not None:
        top_levels = {name.split('.')[0] for name in _state['modules']}
        stale = [name for name, module in list(sys.modules.items())
                 if name.split('.')[0] in top_levels
                 or (getattr(module, '__file__', None) or '').startswith(root + os.sep)]
        # Popped only after the scan: reading a namespace package's __path__ needs its parent.
        for name in stale:
            sys.modules.pop(name, None)
        while root in sys.path:
            sys.path.remove(root)
    importlib.invalidate_caches()
    _state.update(root=None, rules=[], plans=[], staged=frozenset(), modules=[], timing=None,
                  publishers=None)


def _relative(path):
    root = _state['root']
    if root and path.startswith(root + os.sep):
        return os.path.relpath(path, root)
    return path


def _location(error):
    """'file line N' of the innermost frame inside the repository (or the innermost frame)."""
    if isinstance(error, SyntaxError) and error.filename:
        return '{} line {}'.format(_relative(error.filename), error.lineno)
    frames = traceback.extract_tb(error.__traceback__)
    root = _state['root'] or ''
    inside = [frame for frame in frames if root and frame.filename.startswith(root + os.sep)]
    frame = (inside or frames or [None])[-1]
    if frame is None:
        return 'unknown location'
    return '{} line {}'.format(_relative(frame.filename), frame.lineno)


def describe_exception(error):
    """'<file> line <n>: <Type>: <message>' for reports and logs."""
    return '{}: {}: {}'.format(_location(error), type(error).__name__, error)


def _module_names(root, folder):
    """Dotted module names under `folder` (relative to root), in sorted walk order (docs/spec §9.2)."""
    base = os.path.join(root, folder)
    names = []
    for current, dirs, files in os.walk(base):
        dirs.sort()
        for file_name in sorted(files):
            if not file_name.endswith('.py') or file_name.startswith('__'):
                continue
            relative = os.path.relpath(os.path.join(current, file_name), root)[:-len('.py')]
            names.append((relative + '.py', relative.replace(os.sep, '.')))
    return names


def _import_all(root, folders, errors):
    for folder in folders:
        if not os.path.isdir(os.path.join(root, folder)):
            continue
        for path, name in _module_names(root, folder):
            if '.' in path[:-len('.py')]:
                errors.append('{}: NameError: module path may not contain "." '
                              '(it would not be importable as {})'.format(path, name))
                continue
            _state['modules'].append(name)
            try:
                importlib.import_module(name)
            except BaseException as error:  # pylint: disable=broad-except
                # A module calling sys.exit() at import is a broken file, not a reason to stop.
                message = describe_exception(error)
                if isinstance(error, ImportError) and getattr(error, 'name', None):
                    message += (' (imported by {}; install it into the Python environment sa '
                                'uses: VIRTUAL_ENV or --python-env)'.format(path))
                errors.append(message)


def load_repository(root, rule_dirs, matcher_dirs, publisher_dirs, test_mode):
    """Import matchers, rules and publishers from `root`; raise RepositoryError listing failures."""
    reset()
    root = os.path.abspath(root)
    _state['root'] = root
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    from streamalert.shared.publisher import AlertPublisherRepository
    from streamalert.shared.rule import Rule

    errors = []
    _import_all(root, matcher_dirs, errors)
    _import_all(root, rule_dirs, errors)
    _import_all(root, publisher_dirs, errors)
    AlertPublisherRepository._is_imported = True  # pylint: disable=protected-access
    _state['publishers'] = AlertPublisherRepository
    if errors:
        raise RepositoryError(errors)
    if test_mode:
        helpers = sys.modules.get('rules.helpers.base')
        if helpers is not None and hasattr(helpers, 'random_bool'):
            helpers.random_bool = lambda *args, **kwargs: True
    _state['rules'] = list(Rule.get_rules().values())
    # Per rule, what evaluate needs without attribute lookups: the rule, its function, its
    # matchers, whether it takes a context, whether its outputs are static (no dynamic outputs).
    _state['plans'] = [(rule_obj, rule_obj.func, rule_obj.matchers, rule_obj.initial_context is not None,
                        not rule_obj.dynamic_outputs) for rule_obj in _state['rules']]
    return len(_state['rules'])


def _string_list(value, what, rule_obj):
    if isinstance(value, str):
        return value
    try:
        items = list(value)
    except TypeError:
        raise RepositoryError(['rule {}: {} must be a list of strings, not {!r}'.format(
            rule_obj.name, what, value)])
    if not all(isinstance(item, str) for item in items):
        raise RepositoryError(['rule {}: {} must be a list of strings, not {!r}'.format(
            rule_obj.name, what, value)])
    return items


def _record_keys(analysis, rule_obj):
    """The record keys the rule can read (sorted), or None when it may read any of them."""
    try:
        functions = [rule_obj.func, *(rule_obj.matchers or []), *(rule_obj.dynamic_outputs or [])]
    except TypeError:
        return None
    try:
        keys = analysis.of_rule(functions)
    except Exception:  # pylint: disable=broad-except
        # The analysis is an optimisation: whatever stops it (a RecursionError compiling a
        # huge expression) must not stop the repository from loading.
        return None
    if keys is None or not all(_is_utf8(key) for key in keys):
        # A key no JSON record can hold (a lone surrogate) cannot cross into Rust.
        return None
    return sorted(keys)


def _is_utf8(text):
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def rule_catalog(analyse_record_keys=True):
    """What Rust needs to pre-filter and report on each rule, in registry order.
    `analyse_record_keys` off: no rule's record keys are sought (None for every rule)."""
    from _sa_record_keys import RecordKeys
    analysis = RecordKeys()
    catalog = []
    for rule_obj in _state['rules']:
        req_subkeys = None
        if rule_obj.req_subkeys is not None:
            if not isinstance(rule_obj.req_subkeys, dict):
                raise RepositoryError(['rule {}: req_subkeys must be a dict, not {!r}'.format(
                    rule_obj.name, rule_obj.req_subkeys)])
            req_subkeys = [(str(key), _string_list(value, 'req_subkeys[{!r}]'.format(key), rule_obj))
                           for key, value in rule_obj.req_subkeys.items()]
        try:
            source_file = _relative(inspect.getsourcefile(rule_obj.func) or '')
            line = rule_obj.func.__code__.co_firstlineno
        except (TypeError, AttributeError):
            source_file, line = '', 0
        static_outputs = None if rule_obj.dynamic_outputs else _configure_outputs({}, rule_obj, False, [], 0)
        catalog.append({
            'name': rule_obj.name,
            'static_outputs': static_outputs,
            'static_publishers': None if static_outputs is None else _configure_publishers(rule_obj, static_outputs),
            'logs': None if rule_obj.logs is None else _string_list(rule_obj.logs, 'logs', rule_obj),
            'req_subkeys': req_subkeys,
            'disabled': bool(rule_obj.disabled),
            'description': rule_obj.description,
            'merge_by_keys': [str(key) for key in rule_obj.merge_by_keys],
            'merge_window_mins': int(rule_obj.merge_window_mins),
            'policy': _alert_policy(rule_obj),
            'file': source_file,
            'line': line,
            'record_keys': _record_keys(analysis, rule_obj) if analyse_record_keys else None,
        })
    return catalog


def _alert_policy(rule_obj):
    """sa's optional alert policy of a rule (merge_send_first, merge_threshold, dedup_keys,
    dedup_window_mins), validated here so a mistake names the rule."""
    def positive_int(name):
        value = getattr(rule_obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RepositoryError(['rule {}: {} must be a non-negative integer, not {!r}'.format(
                rule_obj.name, name, value)])
        return value
    threshold = positive_int('merge_threshold')
    window = positive_int('dedup_window_mins')
    if (rule_obj.merge_send_first or threshold > 1) and not (
            rule_obj.merge_by_keys and rule_obj.merge_window_mins):
        raise RepositoryError(['rule {}: merge_send_first and merge_threshold need merge_by_keys '
                               'and merge_window_mins'.format(rule_obj.name)])
    return {
        'send_first': bool(rule_obj.merge_send_first),
        'threshold': max(threshold, 1),
        'dedup_keys': _string_list([rule_obj.dedup_keys] if isinstance(rule_obj.dedup_keys, str)
                                   else rule_obj.dedup_keys, 'dedup_keys', rule_obj),
        'dedup_window_mins': window,
    }


def set_staged(names):
    _state['staged'] = frozenset(names)


def set_timing(enabled):
    """Per-rule timing: {index: [calls, total ns, max ns]} when enabled."""
    _state['timing'] = {} if enabled else None


def timings():
    return [(index, calls, total, longest)
            for index, (calls, total, longest) in sorted((_state['timing'] or {}).items())]


def noop(record):
    """What `bench rules` calls to measure the bare cost of a call into Python."""
    return record


def _invoke_timed(rule_obj, index, record):
    started = time.perf_counter_ns()
    try:
        return rule_obj.invoke(record)
    finally:
        elapsed = time.perf_counter_ns() - started
        entry = _state['timing'].setdefault(index, [0, 0, 0])
        entry[0] += 1
        entry[1] += elapsed
        entry[2] = max(entry[2], elapsed)


def _configure_outputs(record, rule_obj, staged, errors, index):
    outputs = {FIREHOSE_OUTPUT}
    if staged:
        return sorted(outputs)
    candidates = list(rule_obj.outputs or [])
    for function in set(rule_obj.dynamic_outputs or []):
        try:
            result = function(record, rule_obj.context) if rule_obj.context else function(record)
        except BaseException as error:  # pylint: disable=broad-except
            errors.append((index, 'dynamic output', describe_exception(error)))
            continue
        if isinstance(result, str):
            candidates.append(result)
        elif isinstance(result, list):
            candidates.extend(result)
    outputs.update(output for output in candidates if isinstance(output, str) and ':' in output)
    return sorted(outputs)


def _publisher_names(references):
    repository = _state['publishers']
    if not isinstance(references, list):
        references = [references]
    names = []
    for reference in references:
        if isinstance(reference, str):
            name = reference
        elif repository.is_valid_publisher(reference):
            name = repository.get_publisher_name(reference)
        else:
            continue
        if repository.has_publisher(name):
            names.append(name)
    return names


def _configure_publishers(rule_obj, outputs):
    """docs/spec §9.10: {output: [publisher names]} for every output but the alerts Firehose."""
    repository = _state['publishers']
    spec = rule_obj.publishers
    if not spec:
        return None
    configured = {}
    for output in outputs:
        if output == FIREHOSE_OUTPUT:
            continue
        if isinstance(spec, (str, list)) or repository.is_valid_publisher(spec):
            configured[output] = _publisher_names(spec)
        elif isinstance(spec, dict):
            names = []
            for key in (output.split(':')[0], output):
                if key in spec:
                    names.extend(_publisher_names(spec[key]))
            configured[output] = names
        else:
            configured[output] = []
    return configured


def evaluate(record, candidates):
    """Run the candidate rules (registry indices) on one record.

    Returns None when nothing fired and nothing failed, else (hits, errors) where a hit is
    (index, outputs, context, publishers, staged) and an error (index, stage, description).
    outputs and publishers are None when they are the rule's static ones (rule_catalog)."""
    hits = None
    errors = None
    plans = _state['plans']
    timing = _state['timing']
    staged_rules = _state['staged']
    for index in candidates:
        rule_obj, function, matchers, with_context, static = plans[index]
        if matchers:
            matched = True
            for matcher in matchers:
                try:
                    if not matcher(record):
                        matched = False
                        break
                except BaseException as error:  # pylint: disable=broad-except
                    errors = errors or []
                    errors.append((index, 'matcher', describe_exception(error)))
                    matched = False
                    break
            if not matched:
                continue
        try:
            if timing is not None:
                fired = _invoke_timed(rule_obj, index, record)
            elif with_context:
                fired = rule_obj.invoke(record)
            else:
                fired = function(record)
            # Truthiness is user code too (a result's __bool__ may raise).
            fired = bool(fired)
        except BaseException as error:  # pylint: disable=broad-except
            # SystemExit or KeyboardInterrupt raised by a rule must not stop sa's rules thread.
            errors = errors or []
            errors.append((index, 'rule', describe_exception(error)))
            continue
        if not fired:
            continue
        hits = hits or []
        staged = rule_obj.name in staged_rules
        if static and not staged:
            hits.append((index, None, rule_obj.context, None, False))
            continue
        errors = errors or []
        outputs = _configure_outputs(record, rule_obj, staged, errors, index)
        hits.append((index, outputs, rule_obj.context, _configure_publishers(rule_obj, outputs),
                     staged))
    if hits is None and errors is None:
        return None
    return hits or [], errors or []


class _Dispatcher:
    """Stands in for an output dispatcher: compose_alert only reads __service__."""

    def __init__(self, service):
        self.__service__ = service


def compose(alert, output):
    """The publication of `alert` for `output` ('service:descriptor'), as production composes it."""
    from streamalert.alert_processor.helpers import compose_alert
    service, _, descriptor = output.partition(':')
    return compose_alert(alert, _Dispatcher(service), descriptor)
