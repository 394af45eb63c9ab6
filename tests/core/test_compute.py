"""The model lock: first come, first served; a waiter that gives up leaves the queue."""
import threading
import time

import pytest

from core.compute import FairLock

pytestmark = pytest.mark.unit


def _waiters(lock: FairLock, n: int) -> None:
    deadline = time.time() + 5
    while lock.waiting() < n:
        assert time.time() < deadline, "waiters did not queue"
        time.sleep(0.005)


def test_the_lock_is_granted_in_arrival_order_and_an_abandoning_waiter_leaves():
    lock, order = FairLock(), []
    lock.acquire()
    gone = threading.Event()

    def call(i: int, abandon=None) -> None:
        if lock.acquire(abandon):
            order.append(i)
            time.sleep(0.005)
            lock.release()
        else:
            order.append(f"left {i}")

    threads = []
    for i in range(5):
        t = threading.Thread(target=call, args=(i, gone if i == 2 else None))
        t.start()
        threads.append(t)
        _waiters(lock, i + 1)  # each queues before the next starts
    gone.set()  # waiter 2's client went away while the lock was held
    _waiters(lock, 4)
    deadline = time.time() + 5
    while "left 2" not in order and time.time() < deadline:
        time.sleep(0.005)
    lock.release()
    for t in threads:
        t.join(5)
    assert order == ["left 2", 0, 1, 3, 4] and lock.waiting() == 0
    assert lock.acquire(threading.Event()) is True  # free again: taken at once
    lock.release()


def test_a_release_hands_the_lock_over_so_the_releaser_cannot_barge_back():
    lock, got = FairLock(), []
    lock.acquire()
    waiter = threading.Thread(target=lambda: (lock.acquire(), got.append("waiter"), lock.release()))
    waiter.start()
    _waiters(lock, 1)
    lock.release()
    lock.acquire()  # the releaser asks again at once: it queues behind the waiter
    got.append("releaser")
    lock.release()
    waiter.join(5)
    assert got == ["waiter", "releaser"]
