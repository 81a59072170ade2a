"""Seeing what a gateway process asks of its file storage, on the real servers.

* :class:`S3Recorder`: a TCP relay between the gateway and the session's S3 server
  (moto), recording the request line of every request the gateway sends (``GET
  /bucket/key``), and able to hold everything (a storage that stops answering).
* :class:`FileOpens`: inotify on one local blob file: each time any process opens it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import select
import socket
import struct
import threading
import time
from pathlib import Path

_REQUEST = re.compile(rb"(GET|HEAD|PUT|POST|DELETE) (/\S*) HTTP/1\.1\r\n")


class S3Recorder:
    """Listens on 127.0.0.1:``port``; each connection is relayed to the upstream port."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sent: list[bytearray] = []  # what each connection sent upstream
        self._lock = threading.Lock()
        self.holding = threading.Event()  # set: nothing passes (a hung storage)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request relayed so far, per connection in order."""
        with self._lock:
            streams = [bytes(s) for s in self._sent]
        return [
            (m.group(1).decode(), m.group(2).decode())
            for data in streams
            for m in _REQUEST.finditer(data)
        ]

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream))
            except OSError:
                client.close()
                continue
            sent = bytearray()
            with self._lock:
                self._sent.append(sent)
            threading.Thread(target=self._pump, args=(client, upstream, sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while chunk := src.recv(65536):
                while self.holding.is_set() and not self._closed:
                    time.sleep(0.05)  # held: the peer waits, as on a hung storage
                if record is not None:
                    with self._lock:
                        record.extend(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


IN_OPEN = 0x20
# watched too so that two opens in a row are two events: inotify merges an event into
# the one before it, not read yet, when they are identical
IN_CLOSE_NOWRITE = 0x10
_EVENT = struct.Struct("iIII")


class FileOpens:
    """Counts the opens of one file by any process (inotify's IN_OPEN); a stat is none."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd: int = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if (
            self._fd < 0
            or libc.inotify_add_watch(self._fd, bytes(path), IN_OPEN | IN_CLOSE_NOWRITE) < 0
        ):
            raise OSError(ctypes.get_errno(), f"inotify on {path}")
        self.opens = 0

    def count(self) -> int:
        """The opens so far: the kernel queued each before its open returned."""
        while select.select([self._fd], [], [], 0)[0]:
            data = os.read(self._fd, 65536)
            at = 0
            while at < len(data):
                _, mask, _, name_len = _EVENT.unpack_from(data, at)
                self.opens += bool(mask & IN_OPEN)
                at += _EVENT.size + name_len
        return self.opens

    def close(self) -> None:
        os.close(self._fd)
