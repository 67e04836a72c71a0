"""The runner's messages to a model's process: arrays come back with the same bytes, dtype
and shape, writable; a closed or garbled connection is Gone; waits end at the deadline."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from robustbench_liver.runs.wire import Gone, Overdue, recv, send

ARRAYS = [
    np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    np.array(7.5),  # 0-d
    np.zeros((0, 3), dtype=np.int16),  # empty
    np.array([[True, False], [False, True]]),
    np.arange(6, dtype=">f8").reshape(3, 2),  # big-endian
    np.arange(60, dtype=np.uint8).reshape(3, 4, 5)[:, ::2, 1:],  # not contiguous
    np.random.default_rng(0).normal(size=(64, 64, 40)).astype(np.float32),  # > socket buffer
]


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.settimeout(0.05)
    b.settimeout(0.05)
    return a, b


def test_arrays_come_back_with_the_same_bytes_dtype_and_shape():
    a, b = pair()
    message = ("predict", (1.0, 2.0, 3.5), 1)
    sender = threading.Thread(target=send, args=(a, message, ARRAYS, lambda idle: None))
    sender.start()
    got, arrays = recv(b, lambda idle: None)
    sender.join()
    assert got == message
    for sent, back in zip(ARRAYS, arrays, strict=True):
        assert back.dtype == sent.dtype and back.shape == sent.shape
        assert back.tobytes() == sent.tobytes()
        assert back.flags.writeable


def test_a_closed_connection_is_gone():
    a, b = pair()
    a.close()
    with pytest.raises(Gone):
        recv(b, lambda idle: None)
    with pytest.raises(Gone):
        send(b, "hello", [np.zeros(10**6)], lambda idle: None)


def test_a_garbled_message_is_gone():
    a, b = pair()
    a.sendall((5).to_bytes(8, "big") + b"\x80junk")
    with pytest.raises(Gone, match="unreadable message"):
        recv(b, lambda idle: None)


def test_waiting_ends_when_check_says_so():
    a, b = pair()
    calls = []

    def check(idle: bool) -> None:
        calls.append(idle)
        if len(calls) > 5:
            raise Overdue

    with pytest.raises(Overdue):
        recv(b, check)
    assert True in calls  # it was asked while nothing arrived
    a.close()
