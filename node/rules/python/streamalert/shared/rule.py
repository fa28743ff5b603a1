"""streamalert.shared.rule: the @rule decorator and the rule registry (docs/spec §9.1, Appendix C.1).

The registry here is the source of truth sa's Rust engine reads after loading a repository:
names, log filters and options come from these Rule objects, and sa calls back into them.
"""
import ast
import copy
import hashlib
import inspect
import json
import textwrap

from streamalert.shared.logger import get_logger

LOGGER = get_logger(__name__)

DEFAULT_RULE_DESCRIPTION = 'No rule description provided'


class RuleCreationError(Exception):
    """A rule is declared wrongly: no logs/datatypes, or a name used twice."""


def rule(**opts):
    """Decorator factory: @rule(logs=[...], ...) turns a function into a registered Rule."""
    def decorator(rule_func):
        return Rule(rule_func, **opts)
    return decorator


def disable(rule_instance):
    """Mark a rule disabled; apply above @rule."""
    Rule.disable(rule_instance.name)
    return rule_instance


class Rule:
    """One detection rule: the user's function plus its declared options."""

    _rules = {}

    def __init__(self, func, **kwargs):
        self.func = func
        self.name = func.__name__
        self.logs = kwargs.get('logs')
        self.datatypes = kwargs.get('datatypes')
        self.outputs = kwargs.get('outputs')
        self.dynamic_outputs = kwargs.get('dynamic_outputs')
        self.publishers = kwargs.get('publishers')
        self.req_subkeys = kwargs.get('req_subkeys')
        self.matchers = kwargs.get('matchers')
        self.merge_by_keys = kwargs.get('merge_by_keys') or []
        self.merge_window_mins = kwargs.get('merge_window_mins') or 0
        # sa extensions (ignored by StreamAlert): deliver the first alert of a merge window at
        # once, merge only groups of at least merge_threshold alerts, and drop alerts whose
        # dedup_keys values repeat within dedup_window_mins.
        self.merge_send_first = bool(kwargs.get('merge_send_first'))
        self.merge_threshold = kwargs.get('merge_threshold') or 1
        self.dedup_keys = kwargs.get('dedup_keys') or []
        self.dedup_window_mins = kwargs.get('dedup_window_mins') or 0
        self.initial_context = kwargs.get('context')
        self.context = None
        self.disabled = False
        self._checksum = None

        if not (self.logs or self.datatypes):
            raise RuleCreationError(
                "Invalid rule [{}] - rule must have either 'logs' or 'datatypes' declared".format(
                    self.name))
        if self.name in Rule._rules:
            raise RuleCreationError('Rule [{}] already registered'.format(self.name))
        Rule._rules[self.name] = self

    def __str__(self):
        return '<Rule: {}; outputs: {}; disabled: {}>'.format(
            self.name, self.outputs, self.disabled)

    __repr__ = __str__

    @property
    def description(self):
        return self.func.__doc__ if self.func.__doc__ else DEFAULT_RULE_DESCRIPTION

    def invoke(self, record):
        """Call the rule function (with a fresh deep copy of its context when one is declared).

        Exceptions propagate: sa's engine counts and logs them itself."""
        if self.initial_context is not None:
            self.context = copy.deepcopy(self.initial_context)
            return self.func(record, self.context)
        return self.func(record)

    def process(self, record):
        """Run the rule on `record`; an exception is logged and counts as not firing."""
        try:
            return self.invoke(record)
        except Exception:  # pylint: disable=broad-except
            LOGGER.exception('Encountered error with rule: %s; record: %s',
                             self.name, json.dumps(record, default=list))
        return False

    def check_matchers(self, record):
        """True when every matcher returns truthy for `record` (a raising matcher counts as false)."""
        if not self.matchers:
            return True
        for matcher in self.matchers:
            try:
                if not matcher(record):
                    return False
            except Exception:  # pylint: disable=broad-except
                LOGGER.exception('Encountered error with matcher %s of rule %s', matcher, self.name)
                return False
        return True

    def is_staged(self, rule_table):
        """True when the rule table lists this rule as staged (unknown rules are not staged)."""
        if not rule_table:
            return False
        info = rule_table.rule_info(self.name)
        return bool(info and info.get('Staged', False))

    @property
    def outputs_set(self):
        return set(self.outputs or [])

    @property
    def dynamic_outputs_set(self):
        return set(self.dynamic_outputs or [])

    @property
    def checksum(self):
        """MD5 of the AST of the function body's non-expression statements (informational)."""
        if self._checksum is None:
            try:
                source = textwrap.dedent(inspect.getsource(self.func))
                tree = ast.parse(source)
                function = next(node for node in ast.walk(tree)
                                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
                body = ''.join(ast.dump(node) for node in function.body
                               if not isinstance(node, ast.Expr))
                self._checksum = hashlib.md5(body.encode('utf-8')).hexdigest()
            except (OSError, TypeError, SyntaxError, StopIteration):
                self._checksum = 'checksum unknown'
        return self._checksum

    @classmethod
    def disable(cls, name):
        rule_obj = cls._rules.get(name)
        if rule_obj:
            rule_obj.disabled = True

    @classmethod
    def get_rule(cls, rule_name):
        return cls._rules.get(rule_name)

    @classmethod
    def get_rules(cls):
        return cls._rules

    @classmethod
    def rule_names(cls):
        return list(cls._rules)

    @classmethod
    def disabled_rules(cls):
        return {name for name, rule_obj in cls._rules.items() if rule_obj.disabled}

    @classmethod
    def rules_for_log_type(cls, log_type):
        return [rule_obj for rule_obj in cls._rules.values()
                if rule_obj.logs is None or log_type in rule_obj.logs]

    @classmethod
    def rules_with_datatypes(cls):
        return [rule_obj for rule_obj in cls._rules.values() if rule_obj.datatypes]
