"""One writer per domain: a second writer is refused naming the holder; a dead holder's lock is taken over."""

import json
import os
import signal
import subprocess

import pytest

from nbutils.lock import TOKEN_ENV, DomainLocked, domain_lock, holder
from tests.conftest import PY, ROOT

HOLD = """
import sys, time
from nbutils.lock import domain_lock
with domain_lock(sys.argv[1], "run --stages decide"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holding(path, seconds=60):
    proc = subprocess.Popen([PY, "-c", HOLD, str(path), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    lock = tmp_path / "work" / ".lock"
    proc = _holding(lock)
    try:
        with pytest.raises(DomainLocked) as e, domain_lock(lock, "train"):
            pass
        message = str(e.value)
        assert f"pid {proc.pid}" in message and "'run --stages decide'" in message and str(lock) in message
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_a_stale_lock_that_is_reported_and_taken_over(tmp_path):
    lock = tmp_path / ".lock"
    proc = _holding(lock)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert holder(lock)["pid"] == proc.pid  # the record stays behind, the flock does not
    notes = []
    with domain_lock(lock, "train", report=notes.append) as record:
        assert record["pid"] == os.getpid() and holder(lock)["command"] == "train"
    assert len(notes) == 1 and f"pid {proc.pid}" in notes[0] and "stale" in notes[0]
    assert holder(lock) is None  # released cleanly
    with domain_lock(lock, "again", report=notes.append):
        pass
    assert len(notes) == 1  # a clean release is not stale


def test_children_write_under_their_parents_lock_and_strangers_do_not(tmp_path):
    lock = tmp_path / ".lock"
    child = f"from nbutils.lock import domain_lock\nwith domain_lock({str(lock)!r}, 'registry register'): print('ok')"
    with domain_lock(lock, "run"):
        inherited = subprocess.run([PY, "-c", child], cwd=ROOT, capture_output=True, text=True)
        stranger_env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        stranger = subprocess.run([PY, "-c", child], cwd=ROOT, capture_output=True, text=True, env=stranger_env)
    assert inherited.returncode == 0 and inherited.stdout.strip() == "ok"
    assert stranger.returncode != 0 and "DomainLocked" in stranger.stderr
    assert TOKEN_ENV not in os.environ


def test_two_runs_on_one_domain_the_second_is_refused_before_any_work(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: builtin:python-docs\noutputs_dir: {tmp_path / 'out'}\n")
    lock = tmp_path / "out" / "demo" / "work" / ".lock"
    proc = _holding(lock)
    try:
        r = subprocess.run(
            [PY, "-m", "nbutils", "run", "demo", "--params", str(params), "--stages", "decide", "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 3 and f"in use by pid {proc.pid}" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "demo").iterdir()) == ["work"]
    assert sorted(p.name for p in (tmp_path / "out" / "demo" / "work").iterdir()) == [".lock"]


def test_registry_writes_take_the_lock(tmp_path):
    from nbutils.maintain import Registry

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    reg = Registry(tmp_path / "work" / "registry")
    reg.register(model, {})
    proc = _holding(reg.lock)
    try:
        with pytest.raises(DomainLocked):
            reg.register(model, {})
        with pytest.raises(DomainLocked):
            reg.promote("v1")
    finally:
        proc.kill()
        proc.wait()
    assert [m["version"] for m in reg.versions()] == ["v1"]
    assert json.loads(reg.file.read_text())["current"] == "v1"
