"""Parsing Python source into an AST on the host, one thread at a time.

Gradings run in threads (decision grading, ``validate --adversarial``), and each parses
Python: the hidden tests' names, the agent's changed modules for the tamper rules. CPython
3.11 keeps the AST constructor's recursion depth per interpreter, not per thread, so two
``ast.parse`` calls interleaved by a thread switch can fail with ``SystemError: AST
constructor recursion depth mismatch`` (python/cpython#106905) -- an infrastructure error
where a verdict was due. Parsing holds a lock; it takes well under a millisecond.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    """``ast.parse(source)``, serialised across threads (same exceptions)."""
    with _LOCK:
        return ast.parse(source)
