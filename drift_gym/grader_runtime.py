"""Grading jobs, executed *inside the sandbox*: the behavioural probe and the hidden tests.

Standalone on purpose (standard library and pytest only, no drift_gym import): this entry
point and its modules (`RUNTIME_MODULES`) are copied into the grading area, the modules into
``grading/runtime/``, and run with the sandbox's interpreter: ``python -I -B grader_runtime.py
probe CONFIG.json`` or ``python -I -B grader_runtime.py pytest PYTEST-ARGS...`` for one cold
job, ``python -s -P grader_runtime.py serve`` for the warm grader that forks one job per request
(``visible PYTEST-ARGS...``: the agent's own test run, in a fork only).

* ``grader_channel`` -- the result channel (nonce frames on a private descriptor, ``os._exit``
  after the last one): the only output the grader trusts;
* ``grader_probe`` -- the behavioural probe and what it observes (log records, output, files);
* ``grader_guard`` -- what both jobs hold the code under test to while it runs: an audit hook
  on swapped function code, trace functions and code the job did not stage, the checks of
  bindings, and (hidden tests) the code pytest compiled from each test file;
* ``grader_scan`` -- the probe's scan of what the code wrote;
* ``grader_record`` -- the probe's recorder, a process of its own that keeps the evidence
  (log records, printed output, facts, each run's outcome, the scans) out of the code's
  reach and sends the report;
* ``grader_runs`` -- the probe's runs (main and each adversity situation), each within its
  share of the probe's time;
* ``grader_pytest`` -- the hidden tests through ``pytest.main``, one frame per test phase,
  with what the warm server prepares for them ahead of the fork;
* ``grader_compile`` -- the repo copy's modules compiled once in the warm server, handed to
  the job's imports for the exact bytes they read;
* ``grader_fixtures`` -- the fixtures of pytest's own plugins, found once in the warm server
  and handed to each grader job's session;
* ``grader_server`` -- the warm grader: the shared imports, one fork per job, the cleanup
  after it.
"""

from __future__ import annotations

import os
import sys

STARTUP = {name.split(".")[0] for name in sys.modules}
"""The top-level modules of the interpreter's start-up, before the runtime imports anything:
a cold run has them too (see grader_server.imported_names)."""
RUNTIME_MODULES = ("grader_channel", "grader_compile", "grader_fixtures", "grader_frames",
                   "grader_guard", "grader_record", "grader_runs", "grader_scan", "grader_probe",
                   "grader_pytest", "grader_leftovers", "grader_server")
RUNTIME_FOLDER = "runtime"
"""Where the modules are staged, beside this file (``-I`` puts no script folder on sys.path:
it is added here for the runtime's own imports and taken off again before any job runs)."""


def _import_runtime() -> object:
    """Import every runtime module now (later imports find them in ``sys.modules``)."""
    import importlib

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), RUNTIME_FOLDER)
    sys.path.insert(0, folder)
    try:
        for name in RUNTIME_MODULES:
            importlib.import_module(name)
    finally:
        sys.path.remove(folder)
    return sys.modules["grader_server"]


def main(argv: list[str]) -> None:
    server = _import_runtime()
    if argv[:1] == ["serve"]:
        server.serve(STARTUP)  # type: ignore[attr-defined]
        return
    server.run_job(argv)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1:])
