"""streamalert.shared.utils: record traversal and IP helpers (docs/spec Appendix C.5)."""
import collections
import ipaddress
import socket

from streamalert.shared.logger import get_logger
from streamalert.shared.normalize import Normalizer

LOGGER = get_logger(__name__)


def get_keys(data, search_key, max_matches=-1):
    """Values of `search_key` anywhere in `data`, breadth first, skipping the normalization subtree."""
    containers = collections.deque([data])
    results = []
    while containers:
        obj = containers.popleft()
        if isinstance(obj, dict):
            if search_key in obj:
                results.append(obj[search_key])
                if 0 < max_matches == len(results):
                    return results
            for key, val in obj.items():
                if key == Normalizer.NORMALIZATION_KEY:
                    continue
                if val and isinstance(val, (dict, list)):
                    containers.append(val)
        elif isinstance(obj, list):
            for val in obj:
                if val and isinstance(val, (dict, list)):
                    containers.append(val)
    return results


def get_first_key(data, search_key, default_value=None):
    """The first value `get_keys` finds, else `default_value`."""
    keys = get_keys(data, search_key, max_matches=1)
    return keys[0] if keys else default_value


def _parse_ip(value):
    """netaddr.IPAddress's default parsing: inet_aton-lenient IPv4, IPv6, or an integer."""
    if isinstance(value, bool):
        raise ValueError('not an address')
    if isinstance(value, int):
        if 0 <= value < 2 ** 32:
            return ipaddress.IPv4Address(value)
        if 0 <= value < 2 ** 128:
            return ipaddress.IPv6Address(value)
        raise ValueError('integer out of range')
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    if not isinstance(value, str) or not value or value != value.strip() or ' ' in value:
        raise ValueError('not an address string')
    if ':' in value:
        return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, value))
    return ipaddress.IPv4Address(socket.inet_aton(value))


def valid_ip(ip_address):
    """True when netaddr would accept `ip_address` (inet_aton forms like '127.1' included); '::1' is not."""
    if ip_address == '::1':
        return False
    try:
        _parse_ip(ip_address)
    except (ValueError, OSError, TypeError):
        return False
    return True


def in_network(ip_address, cidrs):
    """True when `ip_address` is valid and inside any of `cidrs`; invalid CIDRs are logged and skipped."""
    if not valid_ip(ip_address):
        return False
    address = _parse_ip(ip_address)
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except (ValueError, TypeError):
            LOGGER.error('Invalid IP Network: %s', cidr)
            continue
        if address.version == network.version and address in network:
            return True
    return False


def get_database_name(config):
    """The Athena database name: athena_partitioner_config.database_name or '<prefix>_streamalert'."""
    prefix = config['global']['account']['prefix']
    athena_config = config['lambda'].get('athena_partitioner_config', {})
    return athena_config.get('database_name', '{}_streamalert'.format(prefix))


def get_data_file_format(config):
    """athena_partitioner_config.file_format ('parquet' or 'json')."""
    athena_config = config['lambda'].get('athena_partitioner_config', {})
    return athena_config.get('file_format')
