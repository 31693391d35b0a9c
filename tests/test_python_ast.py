"""Gradings in threads parse Python at the same time: the host's parsing is serialised, so
CPython 3.11's shared AST recursion counter (python/cpython#106905) never turns a verdict
into an infrastructure error."""

from __future__ import annotations

import gc
import threading
import time

from drift_gym import python_ast

SOURCE = "\n".join(f"def f{i}(x):\n    return [(a, b) for a in range(x) for b in {{'k': x}}]"
                   for i in range(50))


def test_parsing_in_threads_never_trips_the_shared_recursion_counter():
    """A collection that switches threads mid-parse (a gc callback that sleeps) is what
    makes ``ast.parse`` raise SystemError from several threads; through `python_ast` never."""
    errors: list[BaseException] = []

    def hammer() -> None:
        for _ in range(10):
            try:
                python_ast.parse(SOURCE)
            except SystemError as exc:
                errors.append(exc)

    def switch(*_: object) -> None:
        time.sleep(0)

    threshold = gc.get_threshold()
    gc.set_threshold(50)
    gc.callbacks.append(switch)
    try:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(switch)
        gc.set_threshold(*threshold)
    assert not errors
