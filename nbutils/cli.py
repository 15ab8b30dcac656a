"""Command line: ``python -m nbutils run|train|search|registry|reembed|label|serve-llm``.

Examples:
    python -m nbutils run python_docs
    torchrun --nproc_per_node 4 -m nbutils train scifact    # stage 4 on four GPUs
    accelerate launch --multi_gpu --num_processes 4 -m nbutils train scifact    # the same
    python -m nbutils run scifact --set data_dir=../shared/data/scifact --stages decide,evaluate
    python -m nbutils search python_docs --queries q.jsonl --out run.tsv --mode hybrid --k 100
    python -m nbutils registry python_docs list
    python -m nbutils registry python_docs rollback
    python -m nbutils reembed python_docs
    python -m nbutils label my_docs    # the labeling panel in JupyterLab
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import train
from .config import Params, ParamsError, load_params
from .data import DataIssues, load_queries_jsonl
from .llm import LocalChatModel
from .llm_server import make_server
from .lock import DomainLocked, domain_lock
from .maintain import Registry, history_table, load_version, reembed, search_domain
from .maintain.engines import ENGINES, make_engine
from .paths import DomainPaths
from .retrieval import write_trec
from .runner import RunFailed, parse_stages, run_domain
from .synthesize.labeling import write_label_notebook
from .train.memory import StepTooLarge
from .workspace import load_workspace

__all__ = ["main"]

PARAMS_DIR = Path("params")


def _params(args) -> Params:
    path = Path(args.params) if args.params else PARAMS_DIR / f"{args.domain}.yaml"
    return load_params(args.domain, path, getattr(args, "set", None) or [])


def _cmd_run(args) -> int:

    try:
        stages = parse_stages(args.stages)
        params = _params(args)
    except (ParamsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with domain_lock(DomainPaths.from_params(params).lock, f"run --stages {','.join(stages)}"):
            summary = run_domain(params, stages, progress=not args.quiet)
    except DomainLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\nReports:")
    for stage, path in summary.reports.items():
        print(f"  {stage:<10} {summary.seconds[stage]:6.0f} s  {path}")
    print(f"Index: {summary.index}")
    return 0


def _cmd_train(args) -> int:
    """Stage 4 outside the notebooks, for launchers: ``torchrun --nproc_per_node N -m nbutils train DOMAIN``."""
    import os

    try:
        params = _params(args)
        paths = DomainPaths.from_params(params)
    except (ParamsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # under a launcher, rank 0 holds the domain lock for all ranks
        return _train(params, paths)
    try:
        with domain_lock(paths.lock, "train"):
            return _train(params, paths)
    except DomainLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


def _data_issues(paths: DomainPaths) -> None:
    """Print the one-line summary of the data problems the last decide (and synthesize) run found."""
    for what, path in (("input files", paths.data_issues), ("click log", paths.click_issues)):
        if path.exists():
            print(f"{what} (last run): {DataIssues.read(path).summary(path)}", file=sys.stderr)


def _train(params: Params, paths: DomainPaths) -> int:
    import os

    if "LOCAL_RANK" in os.environ and params.device != "cpu":
        import torch

        if torch.cuda.is_available():  # one GPU per process
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    try:
        trained = train.run(params, paths)
    except (StepTooLarge, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _data_issues(paths)
    if trained.memory.adapted:
        print(f"memory: {trained.memory.adapted}", file=sys.stderr)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(trained.summary()))
    return 0


def _cmd_search(args) -> int:

    try:
        params = _params(args)
        issues = DataIssues()
        queries = load_queries_jsonl(Path(args.queries), issues)
        for issue in issues:
            print(f"warning: {issue}", file=sys.stderr)
        if len(issues):
            print(f"query file: {issues.summary()}", file=sys.stderr)
        if not queries:
            raise ValueError(f"{args.queries}: no valid queries")
        run, version, system = search_domain(
            DomainPaths.from_params(params), queries, args.mode, args.k, args.version, "cpu", params.bm25_backend,
            params.rrf_k,
        )  # fmt: skip
        write_trec(run, args.out, tag=f"{params.domain}-{version or 'bm25'}-{system['mode']}")
    except (ParamsError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unanswered = [q for q, hits in run.items() if not hits]
    if unanswered:
        shown = ", ".join(unanswered[:10]) + (" …" if len(unanswered) > 10 else "")
        print(f"warning: {len(unanswered)} queries found nothing and have no line in the run: {shown}", file=sys.stderr)
    summary = {"queries": len(run), "answered": len(run) - len(unanswered), "unanswered": unanswered}
    summary |= {"out": str(args.out), "model_version": version, "mode": args.mode, "system": system}
    print(json.dumps(summary))
    return 0


def _cmd_registry(args) -> int:

    try:
        registry = Registry(DomainPaths.from_params(_params(args)).registry)
        for folder in registry.leftovers():
            print(f"warning: {folder} is not registered (left by an interrupted run; the next one removes it)")
        if args.action == "list":
            table = history_table(registry)
            print(table.to_string(index=False) if len(table) else "no registered versions")
        elif args.action == "show":
            print(json.dumps(registry.manifest(_need_version(args)), indent=2))
        elif args.action == "promote":
            registry.promote(_need_version(args))
            print(f"current: {registry.current}")
        else:
            print(f"rolled back; current: {registry.rollback()}")
    except DomainLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ParamsError, ValueError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    return 0


def _need_version(args) -> str:
    if not args.version:
        raise ValueError(f"registry {args.action} needs a VERSION (e.g. v1)")
    return args.version


def _cmd_reembed(args) -> int:
    """Bring a version's index up to date with the prepared corpus, encoding only new or changed passages."""

    try:
        params = _params(args)
        paths = DomainPaths.from_params(params)
        registry = Registry(paths.registry)
        version = args.version or registry.current
        if version is None:
            raise ValueError(f"no model is registered for domain {params.domain!r}: run the maintain stage first")
        with domain_lock(paths.lock, f"reembed {version}"):
            loaded = load_version(registry, version, params.device)
            corpus = load_workspace(paths).corpus
            engine = make_engine(args.engine or params.embed_engine, args.ray_address or params.ray_address)
            summary = reembed(
                registry, version, loaded, corpus, params.encode_batch_size, args.full, paths.embeddings_dir,
                engine=engine,
            )  # fmt: skip
    except DomainLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ParamsError, ValueError, FileNotFoundError, KeyError, ImportError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    _data_issues(paths)
    print(json.dumps(summary.to_dict()))
    return 0


def _cmd_label(args) -> int:
    """Write the domain's labeling notebook (the panel, with the domain's params) and open it in JupyterLab."""
    import os
    import subprocess

    try:
        params = _params(args)
        path = write_label_notebook(params, DomainPaths.from_params(params))
    except (ParamsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _data_issues(DomainPaths.from_params(params))
    print(f"labeling notebook: {path}")
    if args.no_lab:
        print("open it in Jupyter and run all cells; labels are saved as you go")
        return 0
    cmd = [sys.executable, "-m", "jupyter", "lab", str(path), f"--port={args.port}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return subprocess.call(cmd)


def _cmd_serve_llm(args) -> int:

    server = make_server(LocalChatModel(args.model, args.device), args.host, args.port, args.name)
    print(f"serving {args.name} on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _params_options(parser: argparse.ArgumentParser) -> None:
    """``--params FILE`` and repeatable ``--set KEY=VALUE``, shared by every command that reads a domain's params."""
    parser.add_argument("--params", help="params YAML (default: params/DOMAIN.yaml)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one parameter (repeatable)")


def _domain_command(sub, name: str, func, help_: str) -> argparse.ArgumentParser:
    """A subcommand that takes a DOMAIN and the params options."""
    parser = sub.add_parser(name, help=help_)
    parser.add_argument("domain")
    _params_options(parser)
    parser.set_defaults(func=func)
    return parser


def _search_options(search: argparse.ArgumentParser) -> None:
    search.add_argument("--queries", required=True, help="JSONL with _id and text per line")
    search.add_argument("--out", required=True, help="TREC run file to write")
    search.add_argument(
        "--mode",
        default="served",
        help="served (default: what the version was registered to serve, chosen on dev) | dense | bm25 | "
        "hybrid (weighted at the version's BM25 weight) | rrf",
    )
    search.add_argument("--k", type=int, default=100, help="results per query (1 to 100000)")
    search.add_argument("--version", help="model version (default: current)")


def _serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--model", default="", help="model folder or hub id (default: the bundled SmolLM2)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8011, help="0 picks a free port")
    serve.add_argument("--device", default="auto")
    serve.add_argument("--name", default="smollm2", help="model name the API reports and expects")
    serve.set_defaults(func=_cmd_serve_llm)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m nbutils`` parser: one subcommand per entry in the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m nbutils", description="Fine-tune embedding models for domain retrieval."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = _domain_command(sub, "run", _cmd_run, "run the notebook suite for a domain")
    run.add_argument("--stages", help="comma-separated stages to run (default: all)")
    run.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    _domain_command(
        sub, "train", _cmd_train,
        "run stage 4 alone (after decide, synthesize, mine); works under torchrun or accelerate launch",
    )  # fmt: skip
    search = _domain_command(sub, "search", _cmd_search, "answer queries with the domain's model; write a TREC run")
    _search_options(search)
    reg = _domain_command(sub, "registry", _cmd_registry, "list, show, promote or roll back the model versions")
    reg.add_argument("action", choices=["list", "show", "promote", "rollback"])
    reg.add_argument("version", nargs="?")
    reem = _domain_command(
        sub, "reembed", _cmd_reembed, "update a version's index to the current corpus; encodes only what changed"
    )
    reem.add_argument("--version", help="model version (default: current)")
    reem.add_argument("--full", action="store_true", help="encode every passage")
    reem.add_argument("--engine", choices=list(ENGINES), help="where to encode (default: the embed_engine param)")
    reem.add_argument("--ray-address", default="", help="with --engine ray: a cluster address; empty: a local Ray")
    label = _domain_command(sub, "label", _cmd_label, "open the labeling panel of a prepared domain in JupyterLab")
    label.add_argument("--port", type=int, default=8888, help="JupyterLab port")
    label.add_argument("--no-lab", action="store_true", help="only write the notebook and print its path")
    _serve_options(sub.add_parser("serve-llm", help="serve a local chat model with an OpenAI-compatible API"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OSError as e:  # a read-only folder, a full disk, a path through a file: named, never a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {args.command} could not write or read {where}{e.strerror or e}", file=sys.stderr)
        return 1
