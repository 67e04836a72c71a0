"""Messages between the runner and a model's own process, over a Unix socket: a small pickled
header, then the arrays' raw bytes (no pickling of images, no copies on the sending side).

The runner's side passes `check`, called between reads and writes and whenever the socket's
short timeout passes with nothing to read: it raises Overdue or Gone, so no wait is
unbounded. The model's side blocks (its parent's death ends it: Gone)."""

from __future__ import annotations

import math
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_LENGTH = struct.Struct("!Q")
_CHUNK = 1 << 20

Check = Callable[[bool], None]
"""check(idle): raise Overdue past the deadline, Gone if the other side has died; `idle`
says that nothing could be read or written for a moment."""


class Gone(Exception):
    """The other side closed the connection, died, or sent something unreadable."""


class Overdue(Exception):
    """The deadline passed."""


def send(
    sock: socket.socket, message: Any, arrays: Sequence[np.ndarray] = (), check: Check | None = None
) -> None:
    """`message` (plain data) and `arrays` (numeric, any shape), as one message."""
    arrays = [np.asarray(a) for a in arrays]
    header = pickle.dumps((message, [(a.dtype.str, a.shape) for a in arrays]), protocol=5)
    _send_all(sock, memoryview(_LENGTH.pack(len(header)) + header), check)
    for array in arrays:
        if array.size:
            flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            _send_all(sock, flat.data, check)


def recv(sock: socket.socket, check: Check | None = None) -> tuple[Any, list[np.ndarray]]:
    """(message, arrays) as `send` sent them; the arrays are writable."""
    (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size, check))
    try:
        message, layout = pickle.loads(_recv_exact(sock, length, check))
        shapes = [(np.dtype(dtype), tuple(int(n) for n in shape)) for dtype, shape in layout]
    except Exception as err:  # garbled: whatever sent it is not to be trusted further
        raise Gone(f"unreadable message: {type(err).__name__}: {err}") from None
    arrays = []
    for dtype, shape in shapes:
        data = _recv_exact(sock, dtype.itemsize * math.prod(shape), check)
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    return message, arrays


def _send_all(sock: socket.socket, data: memoryview, check: Check | None) -> None:
    sent = 0
    while sent < len(data):
        if check is not None:
            check(False)
        try:
            sent += sock.send(data[sent : sent + _CHUNK])
        except TimeoutError:  # the reader is busy: is it still there, is it too late?
            if check is not None:
                check(True)
        except OSError as err:  # a broken pipe: the reader died
            raise Gone(str(err)) from None


def _recv_exact(sock: socket.socket, size: int, check: Check | None) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        if check is not None:
            check(False)
        try:
            n = sock.recv_into(view[got:], min(size - got, _CHUNK))
        except TimeoutError:  # nothing yet: is the writer still there, is it too late?
            if check is not None:
                check(True)
            continue
        except OSError as err:
            raise Gone(str(err)) from None
        if n == 0:
            raise Gone("the connection was closed")
        got += n
    return data
