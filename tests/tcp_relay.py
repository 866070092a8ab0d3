"""A TCP relay on a loopback port to the test's real PostgreSQL, owned by the test: the network faults
runlog must survive, made on a real connection (no mock of the driver or the store).

``Relay(5432)``, then ``start()``; point runlog at ``relay.uri(pg_uri)``. Faults:

- ``cut()``: every connection dropped, new ones refused (the port closed), until ``start()`` again;
- ``reset()``: every connection dropped at once by a TCP reset; new ones are accepted;
- ``stall()``: nothing is forwarded any more, either way, and nothing is closed (a network gone
  silent), until ``resume()``;
- ``stall_open()``: the same for the connections open now only; new ones are forwarded (a connection
  half dead: a NAT or a pooler that lost its state while the server itself still answers);
- ``lose_commit_replies(count, every=1)``: the next ``count`` times the server answers a ``COMMIT``
  (every ``every``-th one), the connection is reset right after the server's CommandComplete for it
  is seen and before it is forwarded: the transaction is committed, and the client never hears so.

The relay reads PostgreSQL's protocol from the server (type byte, length) to find those replies; TLS
would hide them, so ``uri()`` asks for ``sslmode=disable``. ``Relay(port, postgres=False)`` relays any
other protocol (HTTP to an S3 server) as opaque bytes: every fault but ``lose_commit_replies``;
``url()`` is its ``http://`` address.
"""

from __future__ import annotations

import socket
import struct
import threading

__all__ = ["Relay"]


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.flowing = threading.Event()
        self.flowing.set()

    def reset(self) -> None:
        for sock in (self.client, self.server):
            try:  # SO_LINGER 0: the last close sends a reset, not a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # wakes the relay's thread blocked in recv() on it (close() alone would not, and
                # the socket would live on, silent, as long as that call)
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass


class Relay:
    """A TCP relay on a loopback port to ``target_port``; see the module docstring for its faults."""

    def __init__(self, target_port: int = 5432, postgres: bool = True) -> None:
        self.target_port, self.postgres = target_port, postgres
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._links: list[_Link] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._commit_cuts = 0  # COMMIT replies still to lose
        self._every = 1
        self._commits_seen = 0
        self.replies_lost = 0

    def uri(self, pg_uri: str) -> str:
        """``pg_uri`` (``postgresql://user@127.0.0.1:5432/db``) through the relay, without TLS."""
        host, _, rest = pg_uri.rpartition("@")
        _, _, database = rest.partition("/")
        return f"{host}@127.0.0.1:{self.port}/{database}?sslmode=disable&gssencmode=disable"

    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the relay as an HTTP endpoint (``postgres=False``)."""
        return f"http://127.0.0.1:{self.port}"

    # -- faults -------------------------------------------------------------------------------

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(): close() alone would leave it accepting
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self.reset()

    def reset(self) -> None:
        """Reset every connection now; new ones are accepted."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.reset()

    def stall(self) -> None:
        """Forward nothing more, either way, and close nothing."""
        self._flowing.clear()

    def stall_open(self) -> None:
        """Forward nothing more on the connections open now, either way, and close nothing; new ones flow."""
        with self._lock:
            for link in self._links:
                link.flowing.clear()

    def resume(self) -> None:
        self._flowing.set()
        with self._lock:
            for link in self._links:
                link.flowing.set()

    def lose_commit_replies(self, count: int, every: int = 1) -> None:
        """Reset the connection after the server's CommandComplete of the next ``count`` COMMITs
        (every ``every``-th), before the client gets it."""
        with self._lock:
            self._commit_cuts, self._every, self._commits_seen = count, every, 0

    # -- forwarding ---------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._to_server, args=(link,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(link,), daemon=True).start()

    def _send(self, link: _Link, sock: socket.socket, data: bytes | bytearray) -> None:
        self._flowing.wait()
        link.flowing.wait()
        if data:
            sock.sendall(data)

    def _to_server(self, link: _Link) -> None:
        try:
            while data := link.client.recv(65536):
                self._send(link, link.server, data)
        except OSError:
            pass
        finally:
            _shutdown(link.server)

    def _cut_here(self) -> bool:
        """A COMMIT's reply is in: whether this one is lost."""
        with self._lock:
            if self._commit_cuts <= 0:
                return False
            self._commits_seen += 1
            if self._commits_seen % self._every:
                return False
            self._commit_cuts -= 1
            self.replies_lost += 1
            return True

    def _to_client(self, link: _Link) -> None:
        buffer = bytearray()
        startup, opaque = True, not self.postgres
        try:
            while data := link.server.recv(65536):
                buffer += data
                at = 0
                while not opaque:
                    if startup:  # one-byte answers to SSLRequest / GSSENCRequest come before any message
                        if at >= len(buffer):
                            break
                        first = buffer[at:at + 1]
                        if first in (b"R", b"E", b"v"):
                            startup = False
                        elif first in (b"S", b"G"):
                            opaque = True  # TLS or GSS from here on: nothing to read
                        else:
                            at += 1
                        continue
                    if len(buffer) - at < 5:
                        break
                    length = int.from_bytes(buffer[at + 1:at + 5], "big")
                    if len(buffer) - at < 1 + length:
                        break
                    if buffer[at:at + 1] == b"C" and buffer[at + 5:at + 1 + length] == b"COMMIT\x00" \
                            and self._cut_here():
                        self._send(link, link.client, buffer[:at])
                        with self._lock:
                            if link in self._links:
                                self._links.remove(link)
                        link.reset()
                        return
                    at += 1 + length
                if opaque:
                    at = len(buffer)
                self._send(link, link.client, buffer[:at])
                del buffer[:at]
        except OSError:
            pass
        finally:
            _shutdown(link.client)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
