"""Runs one harness command inside the sandbox, with the model proxy on its loopback.

The sandbox has no network: the proxy is reachable only as a Unix socket bind-mounted into
it. Harnesses speak HTTP over TCP, so this script (standalone: it runs on the sandbox's
interpreter, without drift_gym importable) listens on 127.0.0.1 inside the sandbox's own
network namespace, relays every connection to the socket, exports the address as
``DRIFT_GYM_PROXY_URL``, runs the harness with the prompt on stdin and its stdout and stderr
in files (the sandbox's output cap must not cut the event stream), and exits with its status.

Usage: ``python launch.py SOCKET PROMPT_FILE OUT_FILE ERR_FILE -- ARGV...``
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    for end in (source, target):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


def _relay(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        return
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    _pipe(client, upstream)


def forward(path: str) -> int:
    """Start relaying 127.0.0.1:<port> to the Unix socket at `path`; return the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def serve() -> None:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=_relay, args=(client, path), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1])


def main(argv: list[str]) -> int:
    sock, prompt, out, err, dashes, *command = argv
    if dashes != "--" or not command:
        print("usage: launch.py SOCKET PROMPT_FILE OUT_FILE ERR_FILE -- ARGV...", file=sys.stderr)
        return 2
    port = forward(sock)
    env = {**os.environ, "DRIFT_GYM_PROXY_URL": f"http://127.0.0.1:{port}/v1"}
    with open(prompt, "rb") as stdin, open(out, "wb") as stdout, open(err, "wb") as stderr:
        return subprocess.run(command, stdin=stdin, stdout=stdout, stderr=stderr,
                              env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
