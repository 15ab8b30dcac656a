"""Run the notebooks of a domain in order with Papermill, export each to HTML and refresh the index."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import Params
from .data import DataIssues
from .overview import write_index
from .paths import NOTEBOOKS, DomainPaths
from .report import export_html, read_metrics

__all__ = ["NOTEBOOK_DIR", "RunFailed", "parse_stages", "run_domain"]

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


class RunFailed(RuntimeError):
    """A notebook raised; carries the saved, partly executed notebook's path (``NN_stage.failed.ipynb``, beside
    the last good report of the stage, which stays as it was with its metrics)."""

    def __init__(self, stage: str, notebook: Path, error: str):
        super().__init__(
            f"stage {stage!r} failed: {error}\nThe partly executed notebook is saved at {notebook}; "
            "the stage's last good report and metrics are unchanged"
        )
        self.stage, self.notebook, self.error = stage, notebook, error


@dataclass
class RunSummary:
    domain: str
    seconds: dict[str, float] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)
    issues: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # data issues per kind, by the stage that found them
    index: Path | None = None


def parse_stages(text: str | None) -> list[str]:
    """``"decide,train"`` → stages in suite order.

    Raises:
        ValueError: for an unknown stage, listing the valid ones.
    """
    if not text:
        return list(NOTEBOOKS)
    asked = [s.strip() for s in text.split(",") if s.strip()]
    for s in asked:
        if s not in NOTEBOOKS:
            raise ValueError(f"--stages: unknown stage {s!r}; valid: {', '.join(NOTEBOOKS)}")
    return [s for s in NOTEBOOKS if s in asked]


def _error_text(exc: Exception) -> str:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}"


def _stop_after_decide(params: Params, paths: DomainPaths) -> bool:

    decision = ((read_metrics(paths, "decide") or {}).get("recommendation") or {}).get("decision")
    if params.stop_after_decide and decision != "fine-tune":
        print(f"      decide recommends {decision!r}; stopping (stop_after_decide is set)", file=sys.stderr, flush=True)
        return True
    return False


def _kernel_transport() -> dict:
    """Start kernels on local IPC sockets where the platform has them, rather than on open TCP ports.

    Recent ipykernel versions warn about unencrypted TCP for every notebook; Unix sockets stay on this
    machine and need no encryption. Windows keeps the TCP default.
    """
    if sys.platform == "win32":
        return {}
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class LocalSocketKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

    return {"kernel_manager_class": LocalSocketKernelManager}


def run_domain(
    params: Params, stages: list[str], notebook_dir: Path = NOTEBOOK_DIR, progress: bool = True
) -> RunSummary:
    """Execute each stage's notebook into ``outputs/<domain>/`` and export it to HTML.

    Raises:
        RunFailed: the first notebook that raises; later stages do not run.
    """
    import papermill as pm

    paths = DomainPaths.from_params(params)
    paths.metrics_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(params.domain)
    for i, stage in enumerate(stages, 1):
        src = notebook_dir / f"{NOTEBOOKS[stage]}.ipynb"
        out, running, failed = paths.notebook(stage), paths.running(stage), paths.failed(stage)
        print(f"[{i}/{len(stages)}] {params.domain}: {NOTEBOOKS[stage]} …", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(src),
                str(running),
                parameters=params.stage_values(stage),
                kernel_name="python3",
                progress_bar=progress,
                cwd=str(notebook_dir),
                **_kernel_transport(),
            )
        except Exception as exc:  # noqa: BLE001 - papermill raises several kinds; all end the run
            # the last good report and its metrics stay together; the failed run is kept beside them
            if running.exists():
                os.replace(running, failed)
                export_html(failed, paths.failed_html(stage), params.domain)
            write_index(paths.outputs_dir)
            raise RunFailed(stage, failed, _error_text(exc)) from exc
        os.replace(running, out)
        for stale in (failed, paths.failed_html(stage)):
            stale.unlink(missing_ok=True)
        summary.seconds[stage] = time.perf_counter() - start
        summary.reports[stage] = export_html(out, paths.html(stage), params.domain)
        print(f"      done in {summary.seconds[stage]:.0f} s → {summary.reports[stage]}", file=sys.stderr, flush=True)
        if issues_file := {"decide": paths.data_issues, "synthesize": paths.click_issues}.get(stage):
            found = DataIssues.read(issues_file)
            what = "input files" if stage == "decide" else "click log"
            summary.issues[stage] = found.counts()
            print(f"      {what}: {found.summary(issues_file)}", file=sys.stderr, flush=True)
        if stage == "decide" and _stop_after_decide(params, paths):
            break
    summary.index = write_index(paths.outputs_dir)
    return summary
