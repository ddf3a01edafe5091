"""The test harness's network guard, loaded by every Python process the suite starts.

tests/conftest.py puts this folder first on PYTHONPATH and sets DLCOURSE_NETWORK_LOG, so that the pytest
workers, every notebook kernel (nbval, papermill, nbclient), the Dask workers and the multi-worker training
processes all start with it. It refuses any connection, and any name lookup, that would leave the machine:
only the loopback (127.0.0.0/8, ::1, "localhost") and Unix sockets are allowed. A refusal raises
ConnectionRefusedError (an OSError, which code that works offline already handles) and is appended to the
log, which conftest reads when the session ends: a suite that tried the network fails even where the code
under test swallowed the error.
"""

import os
import socket

if os.environ.get("DLCOURSE_NETWORK_LOG") and not getattr(socket, "dlcourse_guard", False):
    import ipaddress
    import sys

    _LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

    def _is_local(host) -> bool:
        if host is None:
            return True
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host == "" or host.lower() in _LOCAL_NAMES:
            return True
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False  # a name other than localhost: looking it up may already use the network
        return address.is_loopback or address.is_unspecified

    def _refuse(what: str, target) -> None:
        line = f"pid {os.getpid()} ({' '.join(sys.argv[:2])[:120]}): {what} {target!r}"
        try:
            with open(os.environ["DLCOURSE_NETWORK_LOG"], "a", encoding="utf-8") as log:
                log.write(line + "\n")
        except OSError:
            pass
        raise ConnectionRefusedError(f"the test harness allows no network beyond the loopback: {what} {target!r} "
                                     "refused (tests run offline; see tests/harness/sitecustomize.py)")

    def _check_address(sock, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse("connection to", address)

    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        _check_address(self, address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check_address(self, address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        _check_address(self, args[-1])
        return _sendto(self, data, *args)

    def _is_numeric(host) -> bool:
        try:
            ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).split("%")[0])
            return True
        except ValueError:
            return False

    def getaddrinfo(host, *args, **kwargs):
        # a numeric address needs no lookup (connect() checks it); a name other than this machine's may
        if not (_is_local(host) or _is_numeric(host) or host == socket.gethostname()):
            _refuse("name lookup of", host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
    socket.dlcourse_guard = True
