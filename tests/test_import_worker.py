"""The import's worker process lives no longer than the command that started it: killed
(SIGKILL, SIGTERM) in the middle of an import, the CLI leaves no ``tweeling-import-worker``
behind holding the twin open (each held 380–570 MB), and the twin is as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tweeling.services.workspace import init_workspace, open_workspace

TWEELING = Path(sys.executable).with_name("tweeling")


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; it waits for its parent to reap it


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "buildings.geojsons"
    subprocess.run([TWEELING, "synth", "300000", path], check=True, capture_output=True)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_worker_dies_with_the_command(tmp_path, big_file, sig):
    with init_workspace(tmp_path / "twin"):
        pass
    command = [TWEELING, "import", "file", big_file, "--layer", "buildings"]
    cli = subprocess.Popen(
        [*command, "--crs", "EPSG:28992", "--twin", tmp_path / "twin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # as a user's shell would: nobody else signals the worker
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and time.monotonic() < deadline:
        workers = children(cli.pid)
        time.sleep(0.1)
    assert workers, "the import started no worker process"
    time.sleep(1.5)  # the worker is reading and preparing, the command writing
    assert cli.poll() is None, "the import ended before it could be interrupted"
    os.kill(cli.pid, sig)
    cli.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if alive(w)]
    for w in left:  # do not leave it to the machine either
        os.kill(w, signal.SIGKILL)
    assert not left, f"worker(s) {left} outlived the command killed by {sig.name}"
    with open_workspace(tmp_path / "twin") as ws:
        assert "buildings" not in ws.store.vector_layers()  # nothing half-written
        assert ws.store.integrity_check() == "ok"
