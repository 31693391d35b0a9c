"""What a harness needs from the sandbox, on every tier, without any harness installed: host
folders shared read-only or writable (never over what the sandbox owns), no address-space
bound for its runtime, and the model proxy's Unix socket reached as http://127.0.0.1 through
the launcher's loopback relay."""

from __future__ import annotations

import shlex
import shutil

import pytest

from drift_gym.harnesses.agent import LAUNCHER
from drift_gym.models import parse_model_spec
from drift_gym.proxy import ModelProxy
from drift_gym.sandbox import SandboxError
from drift_gym.sandbox.limits import PROCESS_MEMORY_LIMIT
from drift_gym.sandbox.workspace import owned_folder
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def host():
    """A host folder beside the workspace (as a harness's state is), removed after."""
    folder = owned_folder("test")
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_shares_are_read_only_or_writable_as_asked(sandbox, host):
    (host / "ro").mkdir(mode=0o755)
    (host / "ro" / "tool.txt").write_text("installed\n")
    (host / "rw").mkdir()
    ro = sandbox.share(host / "ro")
    rw = sandbox.share(host / "rw", writable=True)
    result = sandbox.exec(f"cat {ro}/tool.txt; touch {ro}/x 2>/dev/null || echo refused; "
                          f"echo state > {rw}/session && echo written")
    # the subprocess tier shows host folders with the host's modes: read-only to its own
    # uid, not to the host user it falls back to where it cannot switch
    bound = sandbox.backend.uid is not None or sandbox.isolation != "subprocess-weak"
    expected = ["installed", "refused", "written"] if bound else ["installed", "written"]
    assert result.stdout.split() == expected, result.stderr
    assert (host / "rw" / "session").read_text() == "state\n"
    assert (host / "ro" / "x").exists() is not bound
    # nothing of either share is in the repo
    assert sandbox.list_files() == []


def test_a_share_never_covers_what_the_sandbox_owns(sandbox, host):
    with pytest.raises(SandboxError, match="overlaps the sandbox's workspace"):
        sandbox.share(sandbox.repo)
    if sandbox.isolation == "subprocess-weak":
        with pytest.raises(SandboxError, match="only at its own path"):
            sandbox.share(host, inside="/opt/elsewhere")
        return
    for inside in ("/sandbox/repo/tools", "/proc/x", "/usr", "/", "relative", "/a/../b"):
        with pytest.raises(SandboxError):
            sandbox.share(host, inside=inside)
    assert sandbox.share(host, inside="/opt/harness") == "/opt/harness"


def test_harness_runs_lift_only_the_address_space_bound(sandbox):
    ask = "python -c 'import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])'"
    assert sandbox.exec(ask).stdout.strip() == str(PROCESS_MEMORY_LIMIT)
    assert sandbox.exec(ask, address_space=False).stdout.strip() == "-1"


def test_the_launcher_relays_loopback_to_the_proxy_socket(sandbox, host, tmp_path):
    (host / "state").mkdir()
    (host / "sock").mkdir(mode=0o755)
    shutil.copy(LAUNCHER, host / "state" / "launch.py")
    (host / "state" / "prompt").write_text("")
    with FakeOpenAI() as fake, ModelProxy(
            parse_model_spec("litellm:openai/scripted", api_base=fake.url,
                             cache_dir=tmp_path / "cache"),
            socket_path=host / "sock" / "proxy.sock") as proxy:
        state = sandbox.share(host / "state", writable=True)
        sock = sandbox.share(host / "sock") + "/proxy.sock"
        fetch = ("import os, urllib.request; "
                 "print(urllib.request.urlopen(os.environ['DRIFT_GYM_PROXY_URL'] + '/models')"
                 ".read().decode())")
        argv = ["python", f"{state}/launch.py", sock, f"{state}/prompt", f"{state}/out",
                f"{state}/err", "--", "python", "-c", fetch]
        result = sandbox.exec(shlex.join(argv), timeout=30)
    assert result.exit_code == 0, (result.stderr, (host / "state" / "err").read_text())
    assert '"id": "litellm:openai/scripted"' in (host / "state" / "out").read_text()
    assert proxy.calls == []  # a model listing is no model call
