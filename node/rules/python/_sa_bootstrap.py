"""Installs sa's module finder: streamalert.* and _sa_runtime always come from sa itself.

Executed once per process by sa's Rust side with `SOURCES` = {module name: (path, source,
is_package)} bound in its namespace. The finder goes first on sys.meta_path, so a
repository's own streamalert/ package is never imported, whatever sys.path holds."""
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys

import _sa_native


class ShimFinder(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """Serves sa's embedded modules; declines everything else."""

    def __init__(self, sources):
        self._sources = sources

    def find_spec(self, fullname, path=None, target=None):
        entry = self._sources.get(fullname)
        if entry is None:
            if fullname == 'streamalert' or fullname.startswith('streamalert.'):
                # Never fall through to a repository's copy of StreamAlert.
                raise ModuleNotFoundError(
                    'No module named {!r} (sa provides streamalert.* itself and does not '
                    'implement this module)'.format(fullname), name=fullname)
            return None
        origin, _, is_package = entry
        spec = importlib.machinery.ModuleSpec(fullname, self, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = []
        return spec

    def get_source(self, fullname):
        return self._sources[fullname][1]

    def get_filename(self, fullname):
        return self._sources[fullname][0]

    def get_code(self, fullname):
        origin, source, _ = self._sources[fullname]
        return compile(source, origin, 'exec', dont_inherit=True)

    def is_package(self, fullname):
        return self._sources[fullname][2]

    def exec_module(self, module):
        module.__file__ = self.get_filename(module.__name__)
        exec(self.get_code(module.__name__), module.__dict__)  # pylint: disable=exec-used


class FallbackFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-ins for third-party modules StreamAlert repositories import, used only when the
    environment lacks the real package (this finder comes last on sys.meta_path):
    `pathlib2` (a pathlib backport) as stdlib pathlib, `netaddr` as sa's small version."""

    def __init__(self, sources):
        self._sources = sources

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ('pathlib2', 'netaddr', 'netaddr.core'):
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ == 'pathlib2':
            source = importlib.import_module('pathlib')
            for name, value in vars(source).items():
                if not name.startswith('__'):
                    setattr(module, name, value)
            return
        if module.__name__ == 'netaddr.core':
            # `from netaddr.core import AddrFormatError` must find netaddr's own class.
            module.__dict__.update(
                (name, value) for name, value in vars(importlib.import_module('netaddr')).items()
                if not name.startswith('__'))
            return
        origin, code, _ = self._sources['_sa_netaddr']
        module.__file__ = origin
        module.__path__ = []  # a package, so netaddr.core resolves
        exec(compile(code, origin, 'exec', dont_inherit=True), module.__dict__)  # pylint: disable=exec-used


def _cgi_escape(text, quote=None):
    """Python 2's cgi.escape, removed in 3.8: & < > always, '"' only when quote is true."""
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    if quote:
        text = text.replace('"', '&quot;')
    return text


def _install_cgi_escape():
    import types
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        try:
            import cgi  # pylint: disable=deprecated-module
        except ImportError:  # Python 3.13+ removed the module altogether
            cgi = types.ModuleType('cgi')
            sys.modules['cgi'] = cgi
    if not hasattr(cgi, 'escape'):
        cgi.escape = _cgi_escape


sys.meta_path.insert(0, ShimFinder(SOURCES))  # noqa: F821 (bound by sa)
sys.meta_path.append(FallbackFinder(SOURCES))  # noqa: F821
_install_cgi_escape()


class _ForwardToSa(logging.Handler):
    """Python log records (user code's loggers included) go to sa's log."""

    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:  # pylint: disable=broad-except
            message = record.getMessage()
        _sa_native.log(record.levelno, record.name, message)


logging.getLogger().addHandler(_ForwardToSa())
