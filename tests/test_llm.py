"""The two LLM backends against real models: in-process SmolLM2, and the same model behind a real
OpenAI-compatible HTTP server started as a subprocess."""

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from nbutils.config import STATEMENT_PROMPT
from nbutils.llm import LocalChatModel, OpenAIChatModel, ResponseCache
from nbutils.questions import build_messages, parse_question, parse_statement
from tests.conftest import PY, ROOT

PASSAGE = (
    "The assert statement is a convenient way to insert debugging assertions into a program. "
    "Assertions are skipped when Python runs with the -O option."
)
PROMPTS = [
    build_messages(PASSAGE, "Write one question that this passage answers.\n\nPassage: {passage}\nQuestion:", [])
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [PY, "-m", "nbutils", "serve-llm", "--port", str(port), "--device", "cpu"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if json.load(r)["status"] == "ok":
                    break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("LLM server did not start")
    yield f"http://127.0.0.1:{port}/v1", proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow  # loads the bundled LLM
def test_local_model_generates_a_question_and_caches_it(tmp_path):
    cache_file = tmp_path / "cache.jsonl"
    chat = LocalChatModel(device="cpu", batch_size=2, cache=ResponseCache(cache_file), max_tokens=32)
    out = chat.complete(PROMPTS + PROMPTS, progress=False)
    assert all(c.error is None and c.text for c in out)
    assert parse_question(out[0].text) is not None
    assert chat.tally.requests == 2 and chat.tally.completion_tokens > 0
    again = LocalChatModel(device="cpu", cache=ResponseCache(cache_file), max_tokens=32)
    assert [c.text for c in again.complete(PROMPTS, progress=False)] == [out[0].text]
    assert again.tally.cache_hits == 1 and again.tally.requests == 0 and again._model is None


@pytest.mark.slow  # loads the bundled LLM
def test_local_model_writes_a_claim_for_statement_style_queries(tmp_path):
    """``query_style: statement`` through llm_pairs: the claim prompt gives a pair whose query is a sentence."""
    from types import SimpleNamespace

    from nbutils.data import Passage
    from nbutils.questions import llm_pairs

    shots = [("Python caches compiled modules in __pycache__ folders.", "Compiled modules are cached on disk.")]
    shown = build_messages(PASSAGE, STATEMENT_PROMPT, shots, "Claim")[0]["content"]
    assert "Claim: Compiled modules are cached on disk." in shown
    ws = SimpleNamespace(corpus={"a": Passage("a", "", PASSAGE)})
    chat = LocalChatModel(device="cpu", cache=ResponseCache(tmp_path / "cache.jsonl"), max_tokens=32)
    statement = llm_pairs(ws, chat, ["a"], template=STATEMENT_PROMPT, style="statement")
    [pair] = statement.pairs
    assert len(pair.query.split()) >= 3 and "\n" not in pair.query and pair.positive == "a"
    assert parse_statement(pair.query) == pair.query
    question = llm_pairs(ws, chat, ["a"], template=STATEMENT_PROMPT, style="question")  # cached answer, no "?"
    assert not question.pairs and "no usable question" in question.failures[0][1]


@pytest.mark.slow  # loads the bundled LLM
def test_local_model_asks_about_the_passage_with_the_default_prompt(tmp_path):
    """The default prompt shows the built-in generic examples as earlier chat turns; the model then asks
    about the passage, neither answering nor copying an example."""
    from types import SimpleNamespace

    from nbutils.data import Passage
    from nbutils.questions import generic_examples, llm_pairs

    ws = SimpleNamespace(corpus={"a": Passage("a", "", PASSAGE)})
    chat = LocalChatModel(device="cpu", cache=ResponseCache(tmp_path / "cache.jsonl"), max_tokens=32)
    [pair] = llm_pairs(ws, chat, ["a"]).pairs
    assert pair.query.endswith("?") and pair.query not in {q for _, q in generic_examples()}
    assert any(w in pair.query.lower() for w in ("assert", "-o", "debug"))  # greedy: "…purpose of the -O option?"
    assert chat.tally.prompt_tokens > 300  # the examples were sent


@pytest.mark.slow  # loads the bundled LLM
def test_openai_backend_against_a_real_local_server(server, tmp_path, monkeypatch):
    base_url, _ = server
    monkeypatch.setenv("TEST_LLM_KEY", "secret-value")
    with urllib.request.urlopen(base_url + "/models") as r:
        assert json.load(r)["data"][0]["id"] == "smollm2"
    cache = ResponseCache(tmp_path / "c.jsonl")
    chat = OpenAIChatModel(base_url, "smollm2", "TEST_LLM_KEY", concurrency=2, cache=cache, max_tokens=32)
    out = chat.complete(PROMPTS * 3, progress=False)
    assert all(c.error is None and c.text for c in out)
    assert chat.tally.requests == 3 and chat.tally.prompt_tokens > 0 and chat.tally.failures == 0
    assert "secret-value" not in (tmp_path / "c.jsonl").read_text() and "secret" not in chat.name
    chat.complete(PROMPTS, progress=False)
    assert chat.tally.cache_hits == 1 and chat.tally.requests == 3


def test_openai_backend_records_failures_after_retries(tmp_path):
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    chat = OpenAIChatModel(
        dead, "smollm2", max_retries=2, backoff=0.01, timeout=2, cache=ResponseCache(tmp_path / "c.jsonl")
    )
    out = chat.complete(PROMPTS, progress=False)
    assert out[0].text is None and "Connection" in out[0].error
    assert chat.tally.as_dict()["failures"] == 1 and chat.tally.retries == 2 and chat.tally.requests == 3
    assert not (tmp_path / "c.jsonl").exists(), "failures are not cached"


def test_torn_cache_line_is_skipped(tmp_path):
    path = tmp_path / "c.jsonl"
    cache = ResponseCache(path)
    cache.put("k1", "What is x?")
    with path.open("a") as f:
        f.write('{"key": "k2", "te')
    assert ResponseCache(path).get("k1") == "What is x?" and len(ResponseCache(path)) == 1


class _Interrupted(LocalChatModel):
    """The real caching path with a generator that answers the first batch, then is interrupted."""

    calls = 0

    def _load(self):
        self._model = object()

    def _generate(self, batch, sample):
        from nbutils.llm import Completion

        type(self).calls += 1
        if type(self).calls > 1:
            raise KeyboardInterrupt
        return [Completion(f"What is item {i}?") for i in range(len(batch))]


def test_interrupted_run_keeps_what_it_paid_for(tmp_path):
    path = tmp_path / "c.jsonl"
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(4)]
    with pytest.raises(KeyboardInterrupt):
        _Interrupted(device="cpu", batch_size=2, cache=ResponseCache(path)).complete(prompts, progress=False)
    resumed = LocalChatModel(device="cpu", batch_size=2, cache=ResponseCache(path))
    assert len(resumed.cache) == 2
    hits = [resumed.cache.get(ResponseCache.key(resumed.name, p, resumed._settings(0))) for p in prompts]
    assert hits[:2] == ["What is item 0?", "What is item 1?"] and hits[2:] == [None, None]
