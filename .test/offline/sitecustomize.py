"""Refuse network connections in every Python process started with this folder on
PYTHONPATH (Python imports ``sitecustomize`` at startup): a dry run or a lint that
reached for the network fails instead of passing on a machine that happens to be online.
Unix sockets still connect."""

import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _local(sock: socket.socket) -> bool:
    return sock.family == getattr(socket, "AF_UNIX", None)


def _refuse(address) -> OSError:
    return OSError(f"network connections are blocked here (tried {address!r})")


def connect(self, address):
    if not _local(self):
        raise _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _local(self):
        raise _refuse(address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
