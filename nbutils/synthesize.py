"""Stage 2, synthesize: training pairs (query, relevant passage), each with its provenance.

Sources: gold labels of the *train* split (never dev or test), click logs, and generators over the
corpus — an LLM asked for the question a passage answers (local model or OpenAI-compatible endpoint),
and the heuristic baselines ``title`` (the section heading) and ``cloze`` (one sentence of the passage),
kept for comparison. Generated questions pass quality filters (:mod:`nbutils.filters`); every pair,
whatever its source, passes the leakage guard against held-out questions. When every LLM request failed,
or more than ``llm_max_failures`` of them, :func:`check_failures` fails the stage with :class:`GenerationFailed`.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import filters
from .config import DEFAULT_PROMPT, STATEMENT_PROMPT
from .data import DataIssues, Passage, load_clicks
from .llm import ChatModel, LocalChatModel, OpenAIChatModel, ResponseCache, without_credentials
from .pairs import Pair, load_pairs, normalize_query, save_pairs
from .workspace import Workspace, document_of, held_out_documents, holds_out_passages, section_of

__all__ = [
    "DEFAULT_PROMPT",
    "Generation",
    "GenerationFailed",
    "Pair",
    "PairSet",
    "build_pairs",
    "chat_model",
    "check_failures",
    "click_pairs",
    "dropped_examples",
    "examples",
    "few_shot_examples",
    "generate",
    "generic_examples",
    "gold_pairs",
    "leakage_filter",
    "llm_pairs",
    "load_pairs",
    "normalize_query",
    "parse_question",
    "parse_statement",
    "prompt_for",
    "roundtrip_retriever",
    "save_pairs",
    "save_training_pairs",
    "summary",
]


def gold_pairs(ws: Workspace, splits: tuple[str, ...] = ("train",)) -> list[Pair]:
    """Pairs from the gold labels of the train split only (or of ``splits``, e.g. train and dev for a refit)."""
    out = []
    for split in splits:
        queries, qrels = ws.split(split)
        out += [Pair(queries[q], pid, "gold", f"{split} split") for q in queries for pid in qrels[q]]
    return out


def click_pairs(path: str, ws: Workspace, min_clicks: int = 1, issues: DataIssues | None = None) -> list[Pair]:
    """Pairs from a click log: queries normalised, duplicates merged, at least ``min_clicks`` clicks.

    Problems in the log (unknown doc ids, malformed rows) are added to ``issues`` when given.
    """
    clicks, found = load_clicks(path, ws.corpus)
    if issues is not None:
        issues.extend(found)
    merged: Counter[tuple[str, str]] = Counter()
    shown: dict[str, str] = {}
    for c in clicks:
        key = normalize_query(c.query)
        shown.setdefault(key, " ".join(c.query.split()))
        merged[(key, c.doc_id)] += c.clicks
    return [Pair(shown[q], d, "clicks", f"clicks:{n}") for (q, d), n in merged.items() if n >= min_clicks]


# --------------------------------------------------------------------------- heuristic generators

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _title_query(p: Passage, rng: random.Random) -> str | None:
    heading = p.text.split("\n", 1)[0].strip()
    return heading if 2 <= len(heading.split()) <= 12 else (p.title or None)


def _cloze_query(p: Passage, rng: random.Random) -> str | None:
    body = " ".join(p.text.split("\n")[1:]) or p.text
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(body.split())) if 5 <= len(s.split()) <= 30]
    return rng.choice(sentences) if sentences else None


HEURISTICS = {"title": _title_query, "cloze": _cloze_query}


def sample_passages(ws: Workspace, n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` passage ids (0 = all), in a stable order.

    Passages training may not see (held-out documents, sections of the synthetic test set) are never sampled.
    """
    from .workspace import trainable_passages

    ids = sorted(trainable_passages(ws))
    return ids if n <= 0 or n >= len(ids) else sorted(random.Random(seed).sample(ids, n))


def generate(ws: Workspace, generators: list[str], passage_ids: list[str], per_passage: int, seed: int) -> list[Pair]:
    """Run the heuristic generators over ``passage_ids``.

    Raises:
        ValueError: for an unknown generator, listing the valid ones.
    """
    for g in generators:
        if g not in HEURISTICS:
            raise ValueError(f"unknown heuristic generator {g!r}; valid: {', '.join(HEURISTICS)}")
    rng = random.Random(seed)
    pairs = []
    for g in generators:
        for pid in passage_ids:
            for _ in range(per_passage):
                q = HEURISTICS[g](ws.corpus[pid], rng)
                if q:
                    pairs.append(Pair(q, pid, "synthetic", f"generator:{g}"))
    return pairs


# --------------------------------------------------------------------------- LLM generator


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


def _question_in(line: str) -> str:
    """The question of a line: up to its first ``?``, or a line opening like a question but ending in
    ``.``, ``:`` or nothing, given a ``?``; else ``""``."""
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


def prompt_for(params) -> str:
    """The prompt template to use: ``prompt_template``, or the claim prompt when ``query_style`` is
    ``statement`` and the template is still the default question prompt."""
    if params.query_style == "statement" and params.prompt_template == DEFAULT_PROMPT:
        return STATEMENT_PROMPT
    return params.prompt_template


def chat_model(params, cache_path) -> ChatModel:
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


def check_failures(gen: Generation | None, params) -> None:
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


# --------------------------------------------------------------------------- leakage and assembly


def leakage_filter(
    pairs: list[Pair], ws: Workspace, splits: tuple[str, ...] = ("test", "dev"), near: float = 0.9
) -> tuple[list[Pair], list[Pair]]:
    """Drop pairs whose query equals or nearly equals a held-out query (word n-gram cosine ≥ ``near``).

    When the workspace was split by document (``split_by: document``), also drop pairs whose positive
    belongs to a document of a held-out query, so held-out documents never train the model.

    Returns:
        ``(kept, dropped)``.
    """
    bad = _held_out_questions(pairs, ws, splits, near) | _held_out_positives(pairs, ws, splits)
    return _partition(pairs, bad)


def _partition(pairs: list[Pair], bad: set[int]) -> tuple[list[Pair], list[Pair]]:
    return [p for i, p in enumerate(pairs) if i not in bad], [p for i, p in enumerate(pairs) if i in bad]


def _held_out_questions(pairs: list[Pair], ws: Workspace, splits: tuple[str, ...], near: float) -> set[int]:
    """Indexes of pairs whose query equals or nearly equals a held-out query."""
    held = [ws.queries[q] for q in ws.held_out(splits)]
    held_norm = {normalize_query(q) for q in held}
    exact = {i for i, p in enumerate(pairs) if normalize_query(p.query) in held_norm}
    close = {i for i, _, _ in filters.near_duplicate_pairs([p.query for p in pairs], held, near)} if near < 1 else set()
    return exact | close


def _held_out_positives(pairs: list[Pair], ws: Workspace, splits: tuple[str, ...]) -> set[int]:
    """Indexes of pairs whose positive training may not see: in a held-out document (``split_by: document``)
    or in a section of the synthetic test set. None otherwise."""
    held = held_out_documents(ws, splits) if ws.split_by == "document" else set()
    units = set(ws.held_out_units)
    return {i for i, p in enumerate(pairs) if document_of(p.positive) in held or section_of(p.positive) in units}


@dataclass
class PairSet:
    """Pairs from every source after filtering, and what each filter dropped."""

    kept: list[Pair]
    report: filters.FilterReport
    failures: list[tuple[str, str]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    click_issues: DataIssues = field(default_factory=DataIssues)
    refit: list[Pair] = field(default_factory=list)  # with refit_with_dev: pairs of train and dev, guarded for test
    generation: Generation | None = None  # the LLM generator's outcome, for :func:`check_failures`

    @property
    def dropped(self) -> list[Pair]:
        return [p for ps in self.report.dropped.values() for p in ps]


def _roundtrip_run(pairs: list[Pair], ws: Workspace, retriever, k: int):
    queries = {str(i): p.query for i, p in enumerate(pairs)}
    return retriever(queries, k)


def filter_generated(pairs: list[Pair], ws: Workspace, params, retriever=None) -> filters.FilterReport:
    """Length, copy, duplicate and round-trip filters over generated pairs, in that order."""
    from .mining import duplicate_groups

    report = filters.FilterReport(list(pairs))
    report.step("length", *filters.drop_length(report.kept, params.q_min_words, params.q_max_words))
    report.step("copied span", *filters.drop_copies(report.kept, ws.corpus, params.copy_max_words))
    report.step("duplicates", *filters.drop_near_duplicates(report.kept, params.near_duplicate))
    if retriever is not None and report.kept:
        run = _roundtrip_run(report.kept, ws, retriever, params.roundtrip_k)
        report.step("round trip", *filters.roundtrip(report.kept, run, params.roundtrip_k, duplicate_groups(ws.corpus)))
    return report


def build_pairs(ws: Workspace, params, chat: ChatModel | None = None, retriever=None) -> PairSet:
    """Collect gold (train split), click and generated pairs; filter the generated ones; guard leakage.

    Args:
        chat: the chat model for the ``llm`` generator (see :func:`chat_model`).
        retriever: ``fn(queries, k) -> run`` for the round-trip filter, or ``None`` to skip it.
    """
    passage_ids = sample_passages(ws, params.synth_passages, params.seed)
    generated = generate(
        ws, [g for g in params.generators if g != "llm"], passage_ids, params.synth_per_passage, params.seed
    )
    failures: list[tuple[str, str]] = []
    gen = None
    if "llm" in params.generators:
        shots = few_shot_examples(ws, params.few_shot, params.seed)
        gen = llm_pairs(
            ws, chat, passage_ids, params.synth_per_passage, prompt_for(params), shots, style=params.query_style
        )
        generated, failures = gen.pairs + generated, gen.failures
    report = filter_generated(generated, ws, params, retriever)
    issues = DataIssues()
    clicks = click_pairs(params.clicks_file, ws, params.min_clicks, issues) if params.clicks_file else []
    held = ("test", "dev")
    generated_kept = list(report.kept)
    pairs = gold_pairs(ws) + clicks + generated_kept
    report.step("held-out questions", *_partition(pairs, _held_out_questions(pairs, ws, held, params.near_duplicate)))
    if holds_out_passages(ws):
        name = "held-out documents" if ws.split_by == "document" else "held-out sections"
        report.step(name, *_partition(report.kept, _held_out_positives(report.kept, ws, held)))
    usage = chat.tally.as_dict() if chat is not None else {}
    refit: list[Pair] = []
    if params.refit_with_dev:  # the dev questions train the refit model; the test split stays held out
        refit_candidates = gold_pairs(ws, ("train", "dev")) + clicks + generated_kept
        refit = leakage_filter(refit_candidates, ws, ("test",), params.near_duplicate)[0]
    return PairSet(report.kept, report, failures, usage, issues, refit, gen)


def save_training_pairs(pairs: PairSet, params, paths) -> list[Pair]:
    """Write every kept pair (``pairs.jsonl``), those of ``train_sources`` (``train_pairs.jsonl``), the
    refit pairs of those sources (``refit_pairs.jsonl``, empty without ``refit_with_dev``) and the click
    log's problems (``click_issues.jsonl``).

    Returns:
        the training pairs of the train split.
    """
    train = [p for p in pairs.kept if p.source in params.train_sources]
    pairs.click_issues.write(paths.click_issues)
    save_pairs(pairs.kept, paths.pairs)
    save_pairs(train, paths.train_pairs)
    save_pairs([p for p in pairs.refit if p.source in params.train_sources], paths.refit_pairs)
    return train


def summary(pairs: list[Pair], train_sources: list[str]):
    """Pairs per source and origin, and whether they train the model (a DataFrame)."""
    import pandas as pd

    rows = Counter((p.source, p.origin.split(":")[0] if p.source == "clicks" else p.origin) for p in pairs)
    return pd.DataFrame(
        [
            {"source": s, "origin": o, "pairs": n, "trains the model": s in train_sources}
            for (s, o), n in sorted(rows.items())
        ]
    )


def examples(pairs: list[Pair], ws: Workspace, per_origin: int = 3, seed: int = 0, width: int = 160):
    """A few pairs of each origin with the start of their passage (a DataFrame)."""
    import pandas as pd

    rng = random.Random(seed)
    groups = filters.by_origin(
        [p if p.source != "clicks" else Pair(p.query, p.positive, p.source, "clicks") for p in pairs]
    )
    rows = []
    for origin, group in sorted(groups.items()):
        for p in rng.sample(group, min(per_origin, len(group))):
            text = ws.corpus[p.positive].full_text().replace("\n", " ")
            rows.append({"origin": origin, "query": p.query, "passage": p.positive, "text": text[:width] + "…"})
    return pd.DataFrame(rows, columns=["origin", "query", "passage", "text"])


def roundtrip_retriever(params, ws: Workspace, embeddings_dir):
    """``fn(queries, k) -> run`` for the round-trip filter: base dense, BM25 or their fusion; ``None`` for none."""
    from .models import load_for
    from .retrieval import reciprocal_rank_fusion
    from .workspace import bm25_index, dense_index

    kind = params.roundtrip
    if kind == "none":
        return None
    bm25 = bm25_index(ws, params.bm25_backend) if kind in {"bm25", "hybrid"} else None
    dense = None
    if kind in {"dense", "hybrid"}:
        base = load_for(params.base_model, params.device, params.max_seq_length, long_passages=params.long_passages)
        dense = (base.model, dense_index(base, ws, embeddings_dir, params.encode_batch_size))

    def retrieve(queries: dict[str, str], k: int):
        runs = []
        if dense is not None:
            runs.append(dense[1].search(dense[0], queries, k=max(k, 100), batch_size=params.encode_batch_size))
        if bm25 is not None:
            runs.append(bm25.search(queries, k=max(k, 100)))
        return runs[0] if len(runs) == 1 else reciprocal_rank_fusion(runs, depth=max(k, 100))

    return retrieve


def dropped_examples(report: filters.FilterReport, ws: Workspace, per_filter: int = 3, seed: int = 0):
    """A few dropped questions per filter, with their passage's start (a DataFrame)."""
    import pandas as pd

    rng = random.Random(seed)
    rows = []
    for name, dropped in report.dropped.items():
        for p in rng.sample(dropped, min(per_filter, len(dropped))):
            text = ws.corpus[p.positive].full_text().replace("\n", " ")[:120] + "…"
            rows.append({"filter": name, "origin": p.origin, "query": p.query, "passage": text})
    return pd.DataFrame(rows, columns=["filter", "origin", "query", "passage"])
