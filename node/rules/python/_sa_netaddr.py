"""A small `netaddr` for repositories whose helpers import it when the real package is absent.

Covers what StreamAlert helpers use: IPAddress, IPNetwork, membership, AddrFormatError, with
netaddr's default leniency for IPv4 (inet_aton forms such as '127.1'). Install the real
netaddr in the Python environment for anything more."""
import ipaddress
import socket


class AddrFormatError(ValueError):
    """An address or network string netaddr would refuse."""


def _address(value):
    if isinstance(value, IPAddress):
        return value._ip  # pylint: disable=protected-access
    if isinstance(value, bool):
        raise AddrFormatError('invalid IPAddress: {!r}'.format(value))
    if isinstance(value, int):
        try:
            return ipaddress.ip_address(value)
        except ValueError as error:
            raise AddrFormatError(str(error))
    if not isinstance(value, str) or not value or value != value.strip():
        raise AddrFormatError('invalid IPAddress: {!r}'.format(value))
    try:
        if ':' in value:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, value))
        return ipaddress.IPv4Address(socket.inet_aton(value))
    except (OSError, ValueError):
        raise AddrFormatError('failed to detect a valid IP address from {!r}'.format(value))


class IPAddress:
    """One IPv4 or IPv6 address."""

    def __init__(self, addr, version=None, flags=0):
        del version, flags
        self._ip = _address(addr)

    @property
    def version(self):
        return self._ip.version

    def is_private(self):
        return self._ip.is_private

    def is_loopback(self):
        return self._ip.is_loopback

    def is_reserved(self):
        return self._ip.is_reserved

    def __int__(self):
        return int(self._ip)

    def __str__(self):
        return str(self._ip)

    def __repr__(self):
        return "IPAddress('{}')".format(self._ip)

    def __eq__(self, other):
        try:
            return self._ip == _address(other)
        except AddrFormatError:
            return False

    def __hash__(self):
        return hash(self._ip)


class IPNetwork:
    """A CIDR block; host bits are allowed, as in netaddr."""

    def __init__(self, addr, implicit_prefix=False, version=None, flags=0):
        del implicit_prefix, version, flags
        try:
            self._net = ipaddress.ip_network(str(addr), strict=False)
        except ValueError as error:
            raise AddrFormatError('invalid IPNetwork {!r}: {}'.format(addr, error))

    @property
    def version(self):
        return self._net.version

    @property
    def prefixlen(self):
        return self._net.prefixlen

    @property
    def network(self):
        return IPAddress(str(self._net.network_address))

    @property
    def size(self):
        return self._net.num_addresses

    def __contains__(self, other):
        if isinstance(other, IPNetwork):
            return other._net.version == self._net.version and other._net.subnet_of(self._net)
        try:
            address = _address(other)
        except AddrFormatError:
            return False
        return address.version == self._net.version and address in self._net

    def __str__(self):
        return str(self._net)

    def __repr__(self):
        return "IPNetwork('{}')".format(self._net)


def valid_ipv4(addr, flags=0):
    del flags
    try:
        return isinstance(addr, str) and _address(addr).version == 4
    except AddrFormatError:
        return False


def valid_ipv6(addr, flags=0):
    del flags
    try:
        return isinstance(addr, str) and _address(addr).version == 6
    except AddrFormatError:
        return False


def all_matching_cidrs(ip, cidrs):
    return [IPNetwork(cidr) for cidr in cidrs if ip in IPNetwork(cidr)]
