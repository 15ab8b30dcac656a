"""A failing OpenAI-compatible endpoint: the key never reaches a file, a refused key stops at once, and a
generation where too many requests failed fails the stage instead of printing "done".

The endpoints are real local HTTP servers (a closed port, non-JSON answers, a server that hangs, one that
echoes the Authorization header in its error bodies); the last test runs the real ``nbutils run`` path."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from nbutils.config import ParamsError, stage_fields, validate
from nbutils.data import Passage
from nbutils.llm import REDACTED, LlmAuthError, OpenAIChatModel, ResponseCache, redact
from nbutils.questions import GenerationFailed, chat_model, check_failures, llm_pairs
from tests.conftest import PY, ROOT

KEY = "sk-test-0123456789abcdefSECRET"
WS = SimpleNamespace(
    corpus={f"p{i}": Passage(f"p{i}", "", f"Passage {i} is on the assert statement.") for i in range(6)}
)


class _Handler(BaseHTTPRequestHandler):
    """Answers every POST as the server's ``mode`` says; counts the requests."""

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        server = self.server
        with server.lock:
            server.hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode, echo = server.mode, self.headers.get("Authorization", "")
        if mode == "hang":
            time.sleep(3)
            status, body, kind = 200, b"{}", "application/json"
        elif mode == "nonjson":
            status, body, kind = 200, b"<html><body>Welcome to nginx!</body></html>", "text/html"
        else:  # an error status whose body echoes the key, as some proxies do
            status, kind = int(mode), "application/json"
            body = json.dumps({"error": {"message": f"invalid credentials: {echo}", "api_key": KEY}}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout)
            pass


@pytest.fixture
def endpoint():
    """``start(mode) -> (base_url, server)``; every server started is shut down after the test."""
    servers = []

    def start(mode: str):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.mode, server.hits, server.lock = mode, 0, threading.Lock()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", server

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on leaving: nothing listens there


def _chat(base_url: str, tmp_path: Path, **kw) -> OpenAIChatModel:
    kw = {"max_retries": 1, "backoff": 0.01, "timeout": 2.0, "concurrency": 2, **kw}
    return OpenAIChatModel(base_url, "m", "TEST_LLM_KEY", cache=ResponseCache(tmp_path / "cache.jsonl"), **kw)


def _params(base_url: str, max_failures: float = 0.5):
    return SimpleNamespace(llm_backend="openai", llm_base_url=base_url, llm_max_failures=max_failures, llm_timeout=2.0)


# --------------------------------------------------------------------------- redaction


def test_redact_removes_the_key_and_anything_that_looks_like_one():
    text = (
        f"Error code: 401 - {{'error': {{'message': 'bad key Bearer {KEY}', 'key': 'abc'}}}} "
        'headers {"api_key": "AbCdEfGh12345678", "token": "t0k3n-value"} url?api_key=zzz9&x=1 '
        "other sk-proj-AAAAbbbb1111 and ghp_aB3dE5gH7jK9mN1pQ3sT5vW7 and 0123456789abcdef0123456789abcdef"
    )
    out = redact(text, ["my-own-secret-key", ""])
    for leaked in (KEY, "abc'", "AbCdEfGh12345678", "t0k3n-value", "zzz9", "sk-proj", "ghp_aB3", "0123456789abcdef"):
        assert leaked not in out, (leaked, out)
    assert REDACTED in out and "Error code: 401" in out and "&x=1" in out
    assert redact("status my-own-secret-key!", ["my-own-secret-key"]) == f"status {REDACTED}!"
    escaped = json.dumps('a"b-secret')[1:-1]  # as a JSON body would carry it
    assert redact(f"quoted {escaped}", ['a"b-secret']) == f"quoted {REDACTED}"


def test_redact_keeps_ordinary_error_text():
    for text in (
        "APIConnectionError: Connection error.",
        "APITimeoutError: Request timed out.",
        "InternalServerError: Error code: 500 - upstream at http://127.0.0.1:8011/v1/chat/completions failed",
        "ChatCompletionMessageParam expected",
    ):
        assert redact(text, ["unrelated-secret"]) == text


# --------------------------------------------------------------------------- endpoints that fail


def test_refused_key_stops_at_once_without_the_key(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", KEY)
    for status in ("401", "403"):
        base_url, server = endpoint(status)
        chat = _chat(base_url, tmp_path, max_retries=3)
        with pytest.raises(LlmAuthError) as e:
            llm_pairs(WS, chat, sorted(WS.corpus))
        msg = str(e.value)
        assert base_url in msg and "$TEST_LLM_KEY" in msg and f"({status})" in msg and "check the key" in msg
        assert KEY not in msg and "SECRET" not in msg
        assert e.value.__cause__ is None and (e.value.__context__ is None or e.value.__suppress_context__)
        assert server.hits <= chat.concurrency, "no retries, no request after the refusal"
        assert chat.tally.retries == 0
    assert not (tmp_path / "cache.jsonl").exists()


def test_error_bodies_echoing_the_key_are_redacted(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", KEY)
    base_url, server = endpoint("500")
    chat = _chat(base_url, tmp_path)
    gen = llm_pairs(WS, chat, ["p0", "p1"])
    assert server.hits == 4, "a server error is retried (max_retries=1)"
    assert len(gen.failures) == 2 and gen.requests == 2 and len(gen.errors) == 2
    for _, error in gen.failures:
        assert "InternalServerError" in error and REDACTED in error and KEY not in error and "SECRET" not in error
    with pytest.raises(GenerationFailed) as e:
        check_failures(gen, _params(base_url))
    assert KEY not in str(e.value) and "2 of 2 LLM requests failed" in str(e.value)
    assert not (tmp_path / "cache.jsonl").exists(), "errors are never cached"


def test_closed_port_fails_the_generation(tmp_path):
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    gen = llm_pairs(WS, _chat(base_url, tmp_path), ["p0", "p1", "p2"])
    assert gen.requests == 3 and len(gen.errors) == 3 and "Connection" in gen.errors[0]
    with pytest.raises(GenerationFailed, match=r"3 of 3 LLM requests failed") as e:
        check_failures(gen, _params(base_url))
    assert base_url in str(e.value) and "closed port" in str(e.value)


def test_non_json_answers_fail_the_generation(endpoint, tmp_path):
    base_url, _ = endpoint("nonjson")
    gen = llm_pairs(WS, _chat(base_url, tmp_path), ["p0", "p1"])
    assert len(gen.errors) == 2 and "not a chat completion" in gen.errors[0] and "nginx" in gen.errors[0]
    assert not gen.pairs and not (tmp_path / "cache.jsonl").exists()
    with pytest.raises(GenerationFailed, match="2 of 2 LLM requests failed"):
        check_failures(gen, _params(base_url))


def test_hanging_endpoint_times_out(endpoint, tmp_path):
    base_url, server = endpoint("hang")
    start = time.perf_counter()
    gen = llm_pairs(WS, _chat(base_url, tmp_path, timeout=0.5, max_retries=0), ["p0", "p1"])
    assert time.perf_counter() - start < 2.5, "each request gives up after llm_timeout, with no retry"
    assert server.hits == 2 and len(gen.errors) == 2 and "Timeout" in gen.errors[0]
    with pytest.raises(GenerationFailed, match="llm_timeout"):
        check_failures(gen, _params(base_url))


def test_once_too_many_failed_the_rest_are_not_sent(endpoint, tmp_path):
    base_url, server = endpoint("hang")
    pids = [f"p{i}" for i in range(3)] * 4  # 12 prompts, 2 in flight: at most a share of 0.25 may fail
    start = time.perf_counter()
    gen = llm_pairs(WS, _chat(base_url, tmp_path, timeout=0.3, max_retries=0, max_failures=0.25), pids)
    assert server.hits <= 4 + 2, "requests stop once more than a quarter failed (4), but for those in flight (2)"
    assert time.perf_counter() - start < 3 and len(gen.errors) == 12
    assert sum(e.startswith("not sent") for e in gen.errors) == 12 - server.hits
    with pytest.raises(GenerationFailed, match=r"12 of 12 LLM requests failed, \d+ of them not sent.*Timeout"):
        check_failures(gen, _params(base_url))


def test_credentials_in_the_endpoint_url_never_reach_a_report(tmp_path):
    chat = _chat("http://alice:s3cret@127.0.0.1:1/v1", tmp_path)
    assert "s3cret" not in chat.name and "alice" not in chat.name and "127.0.0.1:1/v1" in chat.name
    gen = llm_pairs(WS, chat, ["p0"])
    with pytest.raises(GenerationFailed) as e:
        check_failures(gen, _params("http://alice:s3cret@127.0.0.1:1/v1"))
    assert "s3cret" not in str(e.value) and "s3cret" not in gen.errors[0]


def test_failure_share_check():
    from nbutils.questions import Generation

    def gen(requests, failed):
        return Generation([], [(f"p{i}", "APIConnectionError: Connection error.") for i in range(failed)], requests,
                          ["APIConnectionError: Connection error."] * failed)  # fmt: skip

    params = _params("http://127.0.0.1:1/v1", max_failures=0.5)
    check_failures(gen(10, 5), params)  # half failed: accepted
    check_failures(gen(0, 0), params)  # nothing asked (no llm generator)
    check_failures(None, params)
    with pytest.raises(GenerationFailed, match=r"6 of 10 LLM requests failed.*raise llm_max_failures \(now 0.5\)"):
        check_failures(gen(10, 6), params)
    with pytest.raises(GenerationFailed, match="10 of 10") as e:
        check_failures(gen(10, 10), _params("http://127.0.0.1:1/v1", max_failures=0.99))
    assert "raise llm_max_failures" not in str(e.value), "every request failed: no share accepts that"
    check_failures(gen(10, 0), _params("x", max_failures=0.0))
    with pytest.raises(GenerationFailed):
        check_failures(gen(10, 1), _params("x", max_failures=0.0))


def test_synthetic_test_set_fails_when_too_many_requests_failed(tmp_path):
    """decide's synthetic test set uses the same generator and the same check: most requests failing fails it
    even though the few answers made some test questions."""
    from nbutils.decide import testset
    from nbutils.llm import ChatModel, Completion
    from nbutils.paths import DomainPaths
    from tests.test_testset import EchoChat, bm25_retriever, params, workspace

    class MostlyBroken(EchoChat):
        def _complete(self, prompts, sample, progress):
            for i, answer in super()._complete(prompts, sample, progress):
                yield i, answer if i % 4 == 0 else Completion(None, "APITimeoutError: Request timed out.")

    assert issubclass(MostlyBroken, ChatModel)
    ws = workspace()
    llm = {"llm_backend": "openai", "llm_base_url": "http://127.0.0.1:1/v1", "llm_timeout": 5.0}
    plan = testset.plan(ws, params())
    with pytest.raises(GenerationFailed, match=r"of \d+ LLM requests failed \(no answer within llm_timeout=5 s"):
        testset.ensure_with(ws, params(llm_max_failures=0.5, **llm), DomainPaths(tmp_path, "d"), plan,
                            MostlyBroken(), bm25_retriever(ws))  # fmt: skip
    ws2, synthetic = testset.ensure_with(
        ws, params(llm_max_failures=0.9, **llm), DomainPaths(tmp_path, "d"), plan, MostlyBroken(), bm25_retriever(ws)
    )
    assert synthetic.splits["test"] and synthetic.failures


# --------------------------------------------------------------------------- params


def test_timeout_retries_and_failure_share_are_params(tmp_path):
    values = validate({}).values
    assert (values["llm_timeout"], values["llm_retries"], values["llm_max_failures"]) == (60.0, 3, 0.5)
    for key in ("llm_timeout", "llm_retries", "llm_max_failures"):
        assert key in stage_fields("synthesize") and key in stage_fields("decide")
    validate({"llm_retries": 0, "llm_timeout": 0.5, "llm_max_failures": 0.0})
    for bad in ({"llm_timeout": 0}, {"llm_timeout": 4000}, {"llm_retries": -1}, {"llm_retries": 11},
                {"llm_max_failures": 1.0}, {"llm_max_failures": -0.1}):  # fmt: skip
        with pytest.raises(ParamsError, match=next(iter(bad))):
            validate(bad)
    params = validate(
        {"llm_backend": "openai", "llm_base_url": "http://127.0.0.1:1/v1", "llm_timeout": 7.5, "llm_retries": 0}
    )
    chat = chat_model(params, tmp_path / "cache.jsonl")
    assert chat.max_retries == 0 and chat._client.timeout == 7.5 and chat._client.max_retries == 0


# --------------------------------------------------------------------------- the real run


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    """An outputs folder where the decide stage of tests/params/tiny.yaml has run."""
    out = tmp_path_factory.mktemp("failing-llm") / "outputs"
    r = _run(out, "decide")
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _run(out: Path, stages: str, *extra: str, key: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": key}
    cmd = [PY, "-m", "nbutils", "run", "tiny", "--params", str(ROOT / "tests/params/tiny.yaml"), "--quiet"]
    cmd += ["--stages", stages, "--set", f"outputs_dir={out}", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _files_with(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


@pytest.mark.smoke
@pytest.mark.slow  # two runs of the suite against failing endpoints
@pytest.mark.parametrize("status, error", [("500", "GenerationFailed"), ("401", "LlmAuthError")])
def test_synthesize_stage_fails_and_writes_no_key(decided, endpoint, status, error):
    """Notebook 02 against an endpoint that echoes the key in its errors: the run exits non-zero, names the
    error, the report shows the failures (500) and no file under the outputs folder holds the key."""
    base_url, server = endpoint(status)
    llm = ["--set", "llm_backend=openai", "--set", f"llm_base_url={base_url}", "--set", "llm_retries=1"]
    r = _run(decided, "synthesize", *llm, key=KEY)
    assert r.returncode == 1, r.stderr[-3000:]
    assert "stage 'synthesize' failed" in r.stderr and error in r.stderr and KEY not in r.stderr + r.stdout
    [notebook] = (decided / "tiny").glob("02_synthesize*.ipynb")  # the partly executed notebook, however named
    assert list((decided / "tiny").glob("02_synthesize*.html")), "the report of the failed stage is exported"
    assert _files_with(decided, KEY) == [] and _files_with(decided, "SECRET") == []
    shown = notebook.read_text()
    notebook.unlink()  # the next case writes its own
    if status == "500":
        assert "LLM requests failed" in shown and "InternalServerError" in shown and REDACTED in shown
        assert server.hits <= 2 * 16, "16 passages, one retry each at most: sending stops past llm_max_failures"
    else:
        assert "refused the key in $OPENAI_API_KEY (401)" in shown and server.hits <= 4
