"""Count every text a suite run encodes, by stage and by the function that asked for it.

    python bench/encode_count.py --params params/python_docs.yaml --out bench/out/encodes \
        --results bench/results/encode_count_demo_cpu.json

Runs the six stages through the CLI (``python -m nbutils run``, as a user would) with a fresh outputs folder.
Each notebook kernel starts with a small ``sitecustomize`` that wraps ``SentenceTransformer.encode`` and
appends one line per call (texts, the stage package and the innermost ``nbutils`` function on the stack) to
a log; nothing in the suite is changed for it, so the same script counts any version of the code (run it
with ``PYTHONPATH`` pointing at another checkout). The summary counts corpus passages encoded more than
once: texts that ask for a passage's embedding which some stage already computed with the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

SITECUSTOMIZE = """
import os, sys
if "ipykernel_launcher" in " ".join(getattr(sys, "orig_argv", sys.argv)):
    import json, traceback
    from sentence_transformers import SentenceTransformer

    _LOG = os.environ["ENCODE_COUNT_LOG"]
    _plain = SentenceTransformer.encode

    def _where():
        stage, func = "", ""
        for frame in traceback.extract_stack()[:-2]:
            parts = frame.filename.replace(os.sep, "/").split("/nbutils/")
            if len(parts) > 1:
                sub = parts[-1]
                if sub != "models.py":  # the innermost caller of the encoding helpers
                    func = f"{sub[:-3]}.{frame.name}"
                if "/" in sub and not stage:
                    stage = sub.split("/")[0]
        return stage, func

    def _signature(model):  # the same weights and sequence length: the same embeddings
        tail = [p.detach().float().sum().item() for p in list(model.parameters())[-4:]]
        return f"{model.max_seq_length}:" + ",".join(f"{v:.6g}" for v in tail)

    def encode(self, *args, **kwargs):
        given = args[0] if args else kwargs.get("inputs", kwargs.get("sentences", []))
        texts = [given] if isinstance(given, str) else list(given)
        stage, func = _where()
        with open(_LOG, "a") as f:
            f.write(json.dumps({"texts": len(texts), "stage": stage, "func": func,
                                "model": _signature(self),
                                "hashes": [hash(t) % (1 << 61) for t in texts]}) + "\\n")
        return _plain(self, *args, **kwargs)

    SentenceTransformer.encode = encode
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params/python_docs.yaml")
    ap.add_argument("--domain", default="python_docs")
    ap.add_argument("--out", default="bench/out/encodes")
    ap.add_argument("--results", default="")
    ap.add_argument("--label", default="", help="what was measured, e.g. the commit")
    ap.add_argument("--llm-cache", default="", help="an earlier run's llm_cache.jsonl: the same questions, sooner")
    args = ap.parse_args()

    out = Path(args.out).resolve()
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True)
    log = out / "encodes.jsonl"
    if args.llm_cache:  # the LLM answers involve no encoder: the counts stay the same
        work = out / "outputs" / args.domain / "work"
        work.mkdir(parents=True)
        shutil.copy(args.llm_cache, work / "llm_cache.jsonl")
    hook = Path(tempfile.mkdtemp())
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ, ENCODE_COUNT_LOG=str(log), PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "nbutils", "run", args.domain, "--params", args.params, "--quiet"]
    r = subprocess.run([*cmd, "--set", f"outputs_dir={out / 'outputs'}"], env=env, capture_output=True, text=True)
    print(r.stdout[-2000:])
    if r.returncode:
        print(r.stderr[-3000:])
        sys.exit(r.returncode)
    summary = summarise([json.loads(line) for line in log.read_text().splitlines()])
    summary |= {"label": args.label, "params": args.params, "seconds": round(time.perf_counter() - start)}
    print(json.dumps({k: v for k, v in summary.items() if k != "calls"}, indent=1))
    if args.results:
        Path(args.results).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


def summarise(calls: list[dict]) -> dict:
    """Texts encoded per stage and per function, and how many were the same text for the same model again."""
    by_stage, by_func = Counter(), Counter()
    seen: dict[str, set[int]] = defaultdict(set)
    repeated = Counter()
    for c in calls:
        by_stage[c["stage"] or "(outside a stage)"] += c["texts"]
        by_func[c["func"]] += c["texts"]
        again = sum(h in seen[c["model"]] for h in c["hashes"])
        repeated[c["func"]] += again
        seen[c["model"]].update(c["hashes"])
    return {
        "texts": sum(c["texts"] for c in calls),
        "calls": len(calls),
        "by_stage": dict(by_stage),
        "by_function": dict(by_func.most_common()),
        "repeated_by_function": {k: v for k, v in repeated.most_common() if v},
        "repeated": sum(repeated.values()),
    }


if __name__ == "__main__":
    main()
