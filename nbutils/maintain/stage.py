"""The maintain stage's entry point: :func:`run` registers the trained model with its index and watches the
current version; it returns a :class:`MaintainReport`."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Params
from ..paths import DomainPaths
from ..workspace import load_workspace
from .engines import make_engine
from .monitoring import (
    Advice,
    Drift,
    Simulation,
    Trigger,
    advise,
    check_triggers,
    evaluate_current,
    evaluations_table,
    measure_drift,
    monitored_queries,
    read_evaluations,
    record_stage_evaluation,
    simulate_drift,
    trigger_table,
)
from .registry import ReembedSummary, Registry, history_table, load_version, publish_run, reembed

__all__ = ["MaintainReport", "run"]


@dataclass
class MaintainReport:
    """The version registered, the current version's refreshed index and evaluations, drift (real and simulated),
    the triggers and the advice; :meth:`to_metrics` is ``metrics/06_maintain.json``."""

    registry: Registry
    manifest: dict  # the version registered by this run
    built: ReembedSummary  # its index
    refreshed: ReembedSummary  # the current version's index, brought up to date with the corpus
    evaluations: list[dict]  # this run's evaluations of the current version
    drift: Drift
    simulation: Simulation
    triggers: list[Trigger]
    advice: Advice

    def manifest_table(self):
        """The registered version's manifest, without its params (a one-column DataFrame)."""
        import pandas as pd

        return pd.Series({k: v for k, v in self.manifest.items() if k != "params"}).to_frame("value")

    def serving_table(self):
        """The system searches get from this version (a one-column DataFrame)."""
        import pandas as pd

        return pd.Series(self.manifest["serving"]).to_frame("served system")

    def history_table(self):
        """Every version: created, parent, test metrics, and whether it is current (a DataFrame)."""
        return history_table(self.registry)

    def evaluations_table(self):
        """The evaluation history of every version (a DataFrame)."""
        return evaluations_table(read_evaluations(self.registry))

    def trigger_table(self):
        """Each trigger, whether it fired, and the numbers behind it (a DataFrame)."""
        return trigger_table(self.triggers)

    def history(self) -> list[dict]:
        """Every registered version, oldest first: when, its test nDCG@10 and recall@10, and which is current."""
        return [
            {
                "version": v["version"],
                "created": v.get("created", ""),
                "ndcg@10": (v.get("metrics") or {}).get("ndcg@10"),
                "recall@10": (v.get("metrics") or {}).get("recall@10"),
                "current": v["version"] == self.registry.current,
            }
            for v in self.registry.versions()
        ]

    def to_metrics(self) -> dict:
        """The stage's record (read by the index page)."""
        return {
            "current": self.registry.current,
            "versions": len(self.registry.versions()),
            "history": self.history(),
            "registered": self.manifest["version"],
            "reembedding": self.built.to_dict(),
            "evaluations": self.evaluations,
            "drift": self.drift.to_dict(),
            "simulation": self.simulation.to_dict(),
            "triggers": [t.to_dict() for t in self.triggers],
            "recommendation": self.advice.to_dict(),
        }


def run(params: Params, paths: DomainPaths) -> MaintainReport:
    """The maintain stage: register the trained model with its complete index (one transaction), bring the
    current version's index up to date, evaluate it, measure drift (and simulate it), check the triggers and
    advise keep, re-train or roll back.

    Raises:
        FileNotFoundError: when an earlier stage has not run.
        DomainLocked: when another process writes this domain.
    """
    registry = Registry(paths.registry)
    manifest, built = publish_run(registry, paths, params)
    ws = load_workspace(paths)
    current = load_version(registry, registry.current, params.device)
    batch, cache = params.encode_batch_size, paths.embeddings_dir
    engine = make_engine(params.embed_engine, params.ray_address)
    refreshed = reembed(registry, registry.current, current, ws.corpus, batch, cache_dir=cache, engine=engine)
    record_stage_evaluation(registry, paths, manifest["version"])
    evaluations = evaluate_current(registry, current, ws, params)
    logged = monitored_queries(registry, params, ws)  # clicked since registration, training queries left out
    drift = measure_drift(registry, registry.current, ws.corpus, params.drift_similarity, logged)
    simulation = simulate_drift(registry, current, ws, params, paths.work / "simulation")
    triggers = check_triggers(registry, drift, params)
    advice = advise(triggers, registry.current, registry.previous())
    return MaintainReport(registry, manifest, built, refreshed, evaluations, drift, simulation, triggers, advice)
