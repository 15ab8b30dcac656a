"""Questions written from passages: prompts, the chat model, answer parsing, failure checks and the filters.

Shared by the decide stage (its provisional synthetic test set) and the synthesize stage (training pairs): both
ask the same generator, parse its answers the same way and keep only questions that pass the same filters.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import filters
from .config import DEFAULT_PROMPT, STATEMENT_PROMPT, Params
from .data import duplicate_groups
from .llm import ChatModel, LocalChatModel, OpenAIChatModel, ResponseCache, without_credentials
from .pairs import Pair
from .workspace import Workspace

__all__ = [
    "GENERIC_EXAMPLES",
    "Generation",
    "GenerationFailed",
    "build_messages",
    "chat_model",
    "check_failures",
    "few_shot_examples",
    "filter_generated",
    "generic_examples",
    "llm_pairs",
    "parse_question",
    "parse_statement",
    "prompt_for",
]


def _clip(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


GENERIC_EXAMPLES = Path(__file__).parent / "builtin" / "generic_shots.jsonl"


def generic_examples() -> list[tuple[str, str]]:
    """The built-in (passage, question) examples of technical documentation, shown when there is no gold."""
    rows = [json.loads(line) for line in GENERIC_EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["passage"], r["question"]) for r in rows]


def few_shot_examples(ws: Workspace, n: int, seed: int, max_words: int = 80) -> list[tuple[str, str]]:
    """``n`` (passage, question) examples from the gold *train* split, for the prompt (``[]`` without gold)."""
    queries, qrels = ws.split("train")
    qids = sorted(queries)
    chosen = random.Random(seed).sample(qids, min(n, len(qids)))
    return [(_clip(ws.corpus[next(iter(qrels[q]))].full_text(), max_words), queries[q]) for q in chosen]


def build_messages(
    passage: str, template: str, shots: list[tuple[str, str]], label: str = "Question"
) -> list[dict[str, str]]:
    """Chat messages asking for a query about ``passage``.

    A ``template`` with ``{examples}`` shows the examples there, each as ``Passage: …`` then ``<label>: …``;
    without it, each example is an earlier exchange: the template filled with the example's passage,
    answered by its query (small chat models copy or answer examples shown inline).
    """
    if _has_examples_field(template):
        examples = "".join(f"Passage: {p}\n{label}: {q}\n\n" for p, q in shots)
        return [{"role": "user", "content": template.format(passage=passage, examples=examples)}]
    turns = [
        m
        for p, q in shots
        for m in ({"role": "user", "content": template.format(passage=p)}, {"role": "assistant", "content": q})
    ]
    return turns + [{"role": "user", "content": template.format(passage=passage)}]


def _has_examples_field(template: str) -> bool:
    import string

    return any(f == "examples" for _, f, _, _ in string.Formatter().parse(template))


_PREFIX = re.compile(r"^\s*(?:[-*•]|\d+[.)]|q\d*[:.]|(?:question|claim|query|statement)\s*\d*\s*:)\s*", re.I)


_META = re.compile(  # questions about the text, its author or its gist, not about a topic
    r"\b(this|the|given|provided|above) (passage|text|question|claim|study|article|paper|code|snippet)s?\b"
    r"|\b(the|this) (author|writer)s?\b"
    r"|\b(this|given|provided|above|following) (document|excerpt|paragraph|section|example)s?\b"
    r"|answer to this|the following|^according to\b|\bmain (idea|point|topic|theme|message|argument)s?\b"
    r"|\bkey (points?|takeaways?)\b|\b(is|are|being) (discussed|described|mentioned|presented)\b"
    r"|\bwhat does (it|this|that) (mean|say|refer)",
    re.I,
)


_REPEATED = re.compile(r"\b([a-z]+(?: [a-z]+){0,2}) \1 \1\b")  # over the words: "npm-npm-npm", "a b a b a b"


_ASK = re.compile(r"^(what|how|why|when|where|which|who|can|could|does|do|did|is|are|should|will)\b", re.I)


_GENERIC = set(
    "a an the of to in on for and or is are was were be it its this that these those there here what which who how "
    "why when where does do did can could should would will i you we they my your about with by from as at if main "
    "purpose point idea topic meaning mean means difference between example use used way thing things something "
    "work works happen happens say says".split()
)


def _names_topic(query: str) -> bool:
    """Whether a query names something: a word or operator (``==``, ``+=``) left once generic words are removed."""
    return any(w not in _GENERIC for w in re.findall(r"\w+|[-=<>!+*/%&|^~@]{2,}", query.lower()))


def _repeats(query: str) -> bool:
    """Whether a query is degenerate: one to three words said three times in a row ("npm-npm-npm-…")."""
    return bool(_REPEATED.search(" ".join(re.findall(r"[a-z]+", query.lower()))))


_PREAMBLE = re.compile(  # chat openers before the question: "Sure!", "What a great question! How about this:"
    r"^(?:[^?!:]{0,60}!\s+|(?:here(?:'s| is| are)|how about|try)\b[^?!:]{0,60}:\s+)+", re.I
)


def _question_in(line: str) -> str:
    """The question of a line: up to its first ``?``, or a line opening like a question but ending in
    ``.``, ``:`` or nothing, given a ``?``; else ``""``. A chat opener before it ("Sure!") is dropped."""
    rest = _PREAMBLE.sub("", line).strip().strip('"')
    if rest != line and _ASK.match(rest):
        line = rest
    if "?" in line:
        return line[: line.index("?") + 1].strip()
    if _ASK.match(line):
        return re.split(r"(?<=[.!])\s+", line, maxsplit=1)[0].strip().rstrip(".!:;, ") + "?"
    return ""


def parse_question(text: str | None) -> str | None:
    """The first question in a model's answer, cleaned; ``None`` when there is none.

    Example:
        >>> parse_question("Question: 1. What does yield return?\\nMore text")
        'What does yield return?'
        >>> parse_question("How to set the umask in npm.")
        'How to set the umask in npm?'
        >>> parse_question('What a great question! How about this: "Where does npm keep its cache?"')
        'Where does npm keep its cache?'
    """
    return _first_usable(text, _question_in)


def parse_statement(text: str | None) -> str | None:
    """The first sentence of a model's answer, for queries that are claims or search phrases, not questions.

    Example:
        >>> parse_statement("Claim: Aspirin lowers the risk of stroke. It was a trial.\\nMore text")
        'Aspirin lowers the risk of stroke.'
    """
    return _first_usable(text, lambda line: re.split(r"(?<=[.!?])\s+", line, maxsplit=1)[0].strip())


def _first_usable(text: str | None, pick) -> str | None:
    """``pick(line)`` of the first answer line (list markers and labels removed) giving 8+ characters
    that name a topic, do not repeat themselves and do not talk about the passage, its author or the question."""
    for line in (text or "").splitlines():
        q = pick(_PREFIX.sub("", _PREFIX.sub("", line.strip())).strip().strip('"'))
        if len(q) >= 8 and not _META.search(q) and not _repeats(q) and _names_topic(q):
            return q
    return None


def prompt_for(params: Params) -> str:
    """The prompt template to use: ``prompt_template``, or the claim prompt when ``query_style`` is
    ``statement`` and the template is still the default question prompt."""
    if params.query_style == "statement" and params.prompt_template == DEFAULT_PROMPT:
        return STATEMENT_PROMPT
    return params.prompt_template


def chat_model(params: Params, cache_path) -> ChatModel:
    """The chat model the params ask for (``llm_backend``: local or openai), with a response cache.

    The openai backend gives each request ``llm_timeout`` seconds and ``llm_retries`` retries.
    """
    cache = ResponseCache(cache_path)
    common = {"cache": cache, "temperature": params.llm_temperature, "max_tokens": params.llm_max_tokens}
    if params.llm_backend == "openai":
        return OpenAIChatModel(
            params.llm_base_url,
            params.llm_model,
            params.llm_api_key_env,
            params.llm_concurrency,
            max_retries=params.llm_retries,
            timeout=params.llm_timeout,
            max_failures=params.llm_max_failures,
            **common,
        )
    return LocalChatModel(params.llm_model, params.device, params.llm_batch_size, seed=params.seed, **common)


@dataclass
class Generation:
    """What :func:`llm_pairs` got: the pairs, a failure per passage, and how many answers failed."""

    pairs: list[Pair]
    failures: list[tuple[str, str]]  # (passage id, error or unusable answer)
    requests: int = 0  # answers asked of the LLM, cached ones included
    errors: list[str] = field(default_factory=list)  # the error of each failed request (redacted)


class GenerationFailed(RuntimeError):
    """Every LLM request failed, or a larger share than ``llm_max_failures``: the stage fails rather than
    carrying on with the questions of the few that answered."""


_HINTS = (  # (pattern in an error text, hint), the first that matches
    ("Timeout", "no answer within llm_timeout={timeout:g} s at {url}"),
    ("Connection", "closed port or wrong address at {url}: nothing answers there"),
    ("not a chat completion", "the endpoint at {url} does not answer like an OpenAI-compatible chat API"),
    ("NotFound", "the endpoint at {url} does not know this path or llm_model"),
)


def check_failures(gen: Generation | None, params: Params) -> None:
    """Fail when every LLM request of ``gen`` failed, or more than ``params.llm_max_failures`` of them.

    Call it after the failures are shown, so the report keeps the list.

    Raises:
        GenerationFailed: naming the count, the most common error (with a hint for a closed port, a
            timeout or an endpoint that is not a chat API) and the param to raise.
    """
    if gen is None or not gen.requests or not gen.errors:
        return
    failed, total = len(gen.errors), gen.requests
    if failed < total and failed <= params.llm_max_failures * total:
        return
    sent = [e for e in gen.errors if not e.startswith("not sent")] or gen.errors
    common, times = Counter(e[:300] for e in sent).most_common(1)[0]
    url = without_credentials(params.llm_base_url) if params.llm_backend == "openai" else "the local model"
    hint = next((h for key, h in _HINTS if key in common), "{url}").format(url=url, timeout=params.llm_timeout)
    accept = (
        "with none answered, check llm_backend, llm_base_url and llm_model"
        if failed == total
        else f"raise llm_max_failures (now {params.llm_max_failures:g}) to accept this"
    )
    unsent = len(gen.errors) - len(sent) if sent is not gen.errors else 0
    skipped = f", {unsent} of them not sent once the failures passed llm_max_failures" if unsent else ""
    raise GenerationFailed(
        f"{failed} of {total} LLM requests failed{skipped} ({hint}; {times}× {common}); "
        f"see the failure list in the report; {accept}"
    )


def llm_pairs(
    ws: Workspace,
    chat: ChatModel,
    passage_ids: list[str],
    per_passage: int = 1,
    template: str = DEFAULT_PROMPT,
    shots: list[tuple[str, str]] | None = None,
    max_words: int = 150,
    style: str = "question",
) -> Generation:
    """Ask ``chat`` for ``per_passage`` queries about each passage; failures are kept per passage.

    Args:
        shots: (passage, query) examples shown to the model (see :func:`build_messages`). With none and a
            ``template`` without ``{examples}``, question-style prompts show the built-in
            :func:`generic_examples` as earlier chat turns.
        style: ``question`` keeps the first question of each answer; ``statement`` its first sentence
            (claims, search phrases), and examples are labelled ``Claim``.
    """
    parse, label = (parse_statement, "Claim") if style == "statement" else (parse_question, "Question")
    if not shots and style == "question" and not _has_examples_field(template):
        shots = generic_examples()
    prompts = [
        build_messages(_clip(ws.corpus[pid].full_text(), max_words), template, shots or [], label)
        for pid in passage_ids
    ]
    pairs, failures, errors = [], [], []
    for sample in range(per_passage):
        for pid, ans in zip(passage_ids, chat.complete(prompts, sample=sample), strict=True):
            q = parse(ans.text)
            if ans.error:
                failures.append((pid, ans.error))
                errors.append(ans.error)
            elif q is None:
                failures.append((pid, f"no usable {style} in {(ans.text or '')[:80]!r}"))
            else:
                pairs.append(Pair(q, pid, "synthetic", "generator:llm"))
    return Generation(pairs, failures, len(prompts) * per_passage, errors)


def _roundtrip_run(pairs: list[Pair], ws: Workspace, retriever, k: int):
    queries = {str(i): p.query for i, p in enumerate(pairs)}
    return retriever(queries, k)


def filter_generated(pairs: list[Pair], ws: Workspace, params: Params, retriever=None) -> filters.FilterReport:
    """Length, copy, duplicate and round-trip filters over generated pairs, in that order."""

    report = filters.FilterReport(list(pairs))
    report.step("length", *filters.drop_length(report.kept, params.q_min_words, params.q_max_words))
    report.step("copied span", *filters.drop_copies(report.kept, ws.corpus, params.copy_max_words))
    report.step("duplicates", *filters.drop_near_duplicates(report.kept, params.near_duplicate))
    if retriever is not None and report.kept:
        run = _roundtrip_run(report.kept, ws, retriever, params.roundtrip_k)
        report.step("round trip", *filters.roundtrip(report.kept, run, params.roundtrip_k, duplicate_groups(ws.corpus)))
    return report
