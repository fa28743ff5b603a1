"""streamalert.shared.config: reading a repository's conf/ the way StreamAlert does (docs/spec §2.1).

sa validates configuration in Rust; this loader exists for user code that reads conf/ itself."""
import collections
import json
import os


class ConfigError(Exception):
    """A configuration file is missing or malformed."""


def _load_json(path):
    try:
        with open(path) as handle:
            return json.load(handle, object_pairs_hook=collections.OrderedDict)
    except (OSError, ValueError) as error:
        raise ConfigError('Invalid JSON in {}: {}'.format(path, error))


def load_config(conf_dir='conf/', exclude=None, include=None, validate=True):
    """{file stem: content} for conf/*.json, plus 'clusters' and 'logs' (schemas)."""
    del validate  # sa validates with its own Rust loader
    exclude, include = set(exclude or []), set(include or [])
    config = {}
    for name in sorted(os.listdir(conf_dir)):
        path = os.path.join(conf_dir, name)
        if not name.endswith('.json') or not os.path.isfile(path):
            continue
        if (include and name not in include) or name in exclude:
            continue
        config[name[:-len('.json')]] = _load_json(path)
    for folder, key in (('clusters', 'clusters'), ('schemas', 'logs')):
        path = os.path.join(conf_dir, folder)
        if key in config or not os.path.isdir(path) or (include and folder not in include):
            continue
        merged = collections.OrderedDict()
        for name in sorted(os.listdir(path)):
            if name.endswith('.json'):
                content = _load_json(os.path.join(path, name))
                if key == 'clusters':
                    merged[name[:-len('.json')]] = content
                else:
                    merged.update(content)
        config[key] = merged
    return config
