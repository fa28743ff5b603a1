"""Which top-level keys of the record a rule can read, found from its source.

Building the Python dict is most of the rules thread's cost, and most rules read a handful of a
record's keys. When every function that receives the record (the rule, its matchers, its dynamic
outputs, and the functions, staticmethods and classmethods they hand the record to) only ever
uses it as `rec['key']`, `rec.get('key'[, default])` or `'key' in rec` with constant keys (a
literal, or a string constant of a module or class: `ThreatIntel.IOC_KEY`), the rule cannot
tell a dict of just those keys (each with its whole value) from the whole record. Any other use
(iterating it, `len`, `json.dumps`, passing it to a builtin or to an object that is not a plain
function of the repository, a key that is not a constant, rebinding the name) makes the answer
None: the rule gets the whole record. So does any sign of reaching the record without naming
it: `locals()`, frames, closures' cells, dunder attributes, `inspect`, `traceback`, `gc`.
Only plain modules and classes (no metaclass, no module subclass) are looked through, since
those alone cannot run code when an attribute is read.

What the analysis cannot see: a function that never receives the record but digs it out of
its caller's frame, and a global, class or module attribute rebound after the repository
loaded. `sanode --rules-whole-records` is the way out for such code.
"""
import ast
import inspect
import linecache
import types

# Builtins and modules that can reach a function's locals, or the record, without naming it
# (when the name is not a local of the function).
_INTROSPECTING_NAMES = frozenset({
    'locals', 'vars', 'eval', 'exec', 'dir', 'globals', 'compile', 'builtins', 'inspect',
    'traceback', 'gc', 'sys', 'importlib',
})
# Attributes that do the same whatever they are read on.
_INTROSPECTING_ATTRIBUTES = frozenset({
    'locals', 'vars', 'globals', '_getframe', 'currentframe', 'getouterframes', 'getinnerframes',
    'getframeinfo', 'getclosurevars', 'getgeneratorlocals', 'getcoroutinelocals', 'get_referrers',
    'get_referents', 'get_objects', 'cell_contents',
})
# Frame, generator, coroutine and traceback attributes.
_INTROSPECTING_PREFIXES = ('f_', 'gi_', 'cr_', 'ag_', 'tb_')


def _dunder(name):
    return name.startswith('__') and name.endswith('__')


def _introspects(node, local):
    """Whether `node` (a name, an attribute or an import) may reach the record without naming
    it."""
    if isinstance(node, ast.Import):
        return any(alias.name.split('.')[0] in _INTROSPECTING_NAMES for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or '').split('.')[0] in _INTROSPECTING_NAMES
    if isinstance(node, ast.Name):
        return _dunder(node.id) or (node.id in _INTROSPECTING_NAMES and node.id not in local)
    if isinstance(node, ast.Attribute):
        return (_dunder(node.attr) or node.attr in _INTROSPECTING_ATTRIBUTES
                or node.attr.startswith(_INTROSPECTING_PREFIXES))
    return False


class RecordKeys:
    """Analyses functions, remembering each (function, argument position, owner) answer."""

    def __init__(self):
        self._answers = {}
        self._active = set()
        self._modules = {}

    def of_rule(self, functions):
        """The union of the keys each function reads from its first argument, or None."""
        keys = set()
        for function in functions:
            found = self.of(function, 0)
            if found is None:
                return None
            keys |= found
        return frozenset(keys)

    def of(self, function, position, owner=None):
        """The keys `function` reads from its argument at `position`, or None. `owner` is the
        class a classmethod is called on (its first parameter)."""
        # By identity: a class's __eq__ is the repository's code.
        memo = (function, position, id(owner))
        if memo in self._answers:
            return self._answers[memo]
        if memo in self._active:
            # Recursion through the record: answering while the first call is unfinished
            # would need a fixed point; the whole record is always correct.
            return None
        self._active.add(memo)
        try:
            answer = self._analyse(function, position, owner)
        finally:
            self._active.discard(memo)
        self._answers[memo] = answer
        return answer

    def _analyse(self, function, position, owner):
        if not isinstance(function, types.FunctionType) or hasattr(function, '__wrapped__'):
            return None
        code = function.__code__
        if position >= code.co_argcount or (owner is not None and position == 0):
            return None
        param = code.co_varnames[position]
        root = _function_tree(function, self._modules)
        if root is None:
            return None
        parameters = root.args.posonlyargs + root.args.args
        if len(parameters) != code.co_argcount or parameters[position].arg != param:
            return None
        parents = {}
        rebound = set()
        for node in ast.walk(root):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
            rebound.update(_names_bound(node, parameters))
        if param in rebound:
            return None
        scope = _Scope(function, rebound, owner)
        if scope.owner_name in rebound:
            return None
        keys = set()
        for node in ast.walk(root):
            if _introspects(node, scope.local):
                return None
            if isinstance(node, ast.Name) and node.id == param:
                found = self._use(node, parents, scope)
                if found is None:
                    return None
                keys |= found
        return frozenset(keys)

    def _use(self, name, parents, scope):
        """The keys one use of the record reads, or None when the use is not understood."""
        parent = parents.get(name)
        if isinstance(parent, ast.Subscript) and parent.value is name:
            key = scope.key(parent.slice)
            return None if key is None else {key}
        if isinstance(parent, ast.Attribute) and parent.value is name:
            call = parents.get(parent)
            if (parent.attr == 'get' and isinstance(call, ast.Call) and call.func is parent
                    and 1 <= len(call.args) <= 2 and not call.keywords):
                key = scope.key(call.args[0])
                return None if key is None else {key}
            return None
        if (isinstance(parent, ast.Compare) and len(parent.ops) == 1
                and isinstance(parent.ops[0], (ast.In, ast.NotIn))
                and parent.comparators[0] is name):
            key = scope.key(parent.left)
            return None if key is None else {key}
        if isinstance(parent, ast.Call) and name in parent.args:
            index = parent.args.index(name)
            if any(isinstance(arg, ast.Starred) for arg in parent.args[:index + 1]):
                return None
            callee = scope.callee(parent.func)
            if callee is None:
                return None
            function, offset, owner = callee
            return self.of(function, index + offset, owner)
        return None


_MISSING = object()


class _Scope:
    """What names mean inside the analysed function: its locals (of any nested scope too),
    its module's globals, and for a classmethod the class its first parameter is."""

    def __init__(self, function, rebound, owner):
        code = function.__code__
        self.globals = function.__globals__
        # Names of this function, of any nested scope too; then also those of enclosing ones.
        self.local = rebound | set(code.co_varnames) | set(code.co_cellvars)
        self.bound = self.local | set(code.co_freevars)
        self.owner = owner
        self.owner_name = code.co_varnames[0] if owner is not None else None

    def key(self, node):
        """The string a key expression always is: a literal, or a constant of a module or a
        class (`ThreatIntel.IOC_KEY`, `cls.NORMALIZATION_KEY`); None otherwise."""
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        value = self._lookup(node)
        # Exactly str: a subclass could hash and compare as another key.
        return value if type(value) is str else None

    def callee(self, node):
        """(function, offset of the record's argument, owner class) for a call of a plain
        function, a staticmethod or a classmethod reached through modules and classes."""
        target = self._lookup(node)
        if isinstance(target, types.FunctionType):
            return target, 0, None
        if isinstance(target, (classmethod, staticmethod)) and isinstance(node, ast.Attribute):
            owner = self._lookup(node.value)
            function = target.__func__
            if not isinstance(function, types.FunctionType) or not _plain(owner):
                return None
            return (function, 1, owner) if isinstance(target, classmethod) else (function, 0, None)
        return None

    def _lookup(self, node):
        """The object `name` or `name.attr...` statically holds, through modules and classes
        only (no descriptor or module __getattr__ runs); _MISSING when unknown."""
        path = []
        while isinstance(node, ast.Attribute):
            path.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return _MISSING
        if node.id == self.owner_name:
            target = self.owner
        elif node.id in self.bound or node.id not in self.globals:
            return _MISSING
        else:
            target = self.globals[node.id]
        for attribute in reversed(path):
            if not _plain(target):
                return _MISSING
            try:
                target = inspect.getattr_static(target, attribute)
            except AttributeError:
                return _MISSING
        return target


def _plain(namespace):
    """A module or class whose attributes are what getattr_static finds: its type defines no
    properties, __getattribute__ or methods that would be found or run instead."""
    return type(namespace) is types.ModuleType or type(namespace) is type


def _function_tree(function, modules):
    """The `def` of `function`, from its module's source, or None. The source must compile
    to the function's own code object: a file changed since it was imported is not analysed.
    `modules` caches each file's parsed and compiled source."""
    code = function.__code__
    filename = code.co_filename
    if filename not in modules:
        modules[filename] = _module_source(function)
    if modules[filename] is None:
        return None
    tree, compiled = modules[filename]
    if not _defines(compiled, code):
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.FunctionDef) and node.name == code.co_name
                and min([node.lineno] + [d.lineno for d in node.decorator_list])
                == code.co_firstlineno):
            return node
    return None


def _module_source(function):
    """The parsed and the compiled source of the file `function` was defined in, or None."""
    try:
        path = inspect.getsourcefile(function)
        if not path:
            return None
        linecache.checkcache(path)
        module = inspect.getmodule(function, path)
        source = ''.join(linecache.getlines(path, module.__dict__ if module else None))
        tree = ast.parse(source, path)
        return tree, compile(tree, function.__code__.co_filename, 'exec', dont_inherit=True)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None


def _defines(compiled, code):
    """Whether `code` is `compiled` or one of the code objects nested in it."""
    if compiled == code:
        return True
    return any(isinstance(constant, types.CodeType) and _defines(constant, code)
               for constant in compiled.co_consts)


def _names_bound(node, parameters):
    """Names `node` binds, other than by being one of the positional `parameters` of the
    analysed function."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        yield node.id
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from node.names
    elif isinstance(node, ast.alias):
        yield (node.asname or node.name).split('.')[0]
    elif isinstance(node, ast.arg) and node not in parameters:
        yield node.arg
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # Includes the analysed function's own name: a call to itself is recursion, which
        # gets the whole record anyway.
        yield node.name
    elif isinstance(node, ast.ExceptHandler) and node.name:
        yield node.name
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        yield node.name
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest
