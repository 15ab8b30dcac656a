"""Training stage: dataset columns per loss, every loss option, dev evaluation, model card, and resume."""

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import TrainerCallback

from nbutils.config import ParamsError, validate
from nbutils.data import Passage
from nbutils.models import load_encoder, make_loss
from nbutils.pairs import Triple
from nbutils.train import LOSSES, build_datasets, dev_corpus, dev_evaluator, fine_tune, model_card, negatives_used
from tests.conftest import BEES, COHORT

CORPUS = {
    f"p{i}": Passage(f"p{i}", f"Topic {i}", f"Passage number {i} talks about subject {i} in detail.") for i in range(12)
}
TRIPLES = [
    Triple(
        f"what about subject {i}", f"p{i}", "gold", "train split", f"p{(i + 1) % 12}", "hybrid", 5, 1.0, margin=0.1 * i
    )
    for i in range(8)
]
TRIPLES.append(Triple("no negative here", "p9", "synthetic", "generator:llm"))


def test_dataset_columns_per_loss():
    d = build_datasets(TRIPLES, CORPUS, loss="mnrl")
    assert d["hard"].column_names == ["anchor", "positive", "negative_1"] and len(d["hard"]) == 8
    assert d["pairs"].column_names == ["anchor", "positive"] and len(d["pairs"]) == 1
    t = build_datasets(TRIPLES, CORPUS, loss="triplet")
    assert list(t) == ["triplets"] and len(t["triplets"]) == 8
    c = build_datasets(TRIPLES, CORPUS, loss="cosent")["scored"]
    assert c.column_names == ["sentence1", "sentence2", "score"] and sorted(set(c["score"])) == [0.0, 1.0]
    assert len(build_datasets(TRIPLES, CORPUS, max_pairs=3, loss="mnrl")["hard"]) <= 3
    with pytest.raises(ValueError, match="valid: mnrl"):
        build_datasets(TRIPLES, CORPUS, loss="hinge")
    with pytest.raises(ValueError, match="no training rows"):
        build_datasets(TRIPLES[-1:], CORPUS, loss="triplet")


def test_marginmse_rows_carry_the_teachers_margins_and_need_them():
    rows = [*TRIPLES, Triple("what about subject 8", "p8", "gold", "x", "p3", "manual")]  # flagged by hand: no margin
    d = build_datasets(rows, CORPUS, loss="marginmse")
    assert list(d) == ["margins"] and d["margins"].column_names == ["anchor", "positive", "negative_1", "label"]
    assert d["margins"]["anchor"] == [f"what about subject {i}" for i in range(8)], "no margin, no row"
    assert d["margins"]["label"] == [[pytest.approx(0.1 * i)] for i in range(8)]
    assert d["margins"]["negative_1"][2] == CORPUS["p3"].full_text()
    assert negatives_used(rows, d) == {"mined": 9, "trained": 8}
    lexical = [Triple(t.query, t.positive, t.source, t.origin, t.negative, "bm25", 5, 1.0) for t in TRIPLES]
    with pytest.raises(ValueError, match="no mined negative carries a teacher margin; mine again with mine_teacher"):
        build_datasets(lexical, CORPUS, loss="marginmse")


def test_loss_auto_distils_when_every_pair_is_synthetic_and_contrasts_labelled_ones():
    from nbutils.pairs import Pair, resolve_loss

    synthetic = [Pair("q1", "p1", "synthetic", "generator:llm"), Pair("q2", "p2", "synthetic", "generator:llm")]
    assert resolve_loss("auto", synthetic)[0] == "marginmse"
    loss, why = resolve_loss("auto", [*synthetic, Pair("q3", "p3", "gold", "train split")])
    assert loss == "mnrl" and "labelled training pairs: gold" in why
    assert resolve_loss("auto", TRIPLES)[0] == "mnrl" and resolve_loss("cosent", synthetic)[0] == "cosent"
    assert resolve_loss("auto", [])[0] == "mnrl"


def test_few_rows_train_more_epochs_until_min_steps_within_a_cap():
    from nbutils.pairs import RAISED_EPOCHS_MAX, plan_epochs

    assert plan_epochs(1, 235, 32, 20) == (
        3,
        "`epochs: 1` raised to 3 (235 rows make 8 steps of 32 an epoch; `min_steps: 20`)",
    )
    epochs, why = plan_epochs(1, 860, 32, 20)
    assert epochs == 1 and "27 steps of 32 an epoch, 27 in all" in why, "enough steps: epochs as given"
    assert plan_epochs(2, 64, 32, 4)[0] == 2 and plan_epochs(2, 64, 32, 5)[0] == 3
    assert plan_epochs(1, 235, 32, 0)[0] == 1 and plan_epochs(5, 235, 32, 20)[0] == 5, "never lowered"
    epochs, why = plan_epochs(1, 19, 32, 20)
    assert epochs == RAISED_EPOCHS_MAX == 10 and "1 step of 32" in why and "10 epochs at most" in why
    epochs, why = plan_epochs(1, 860, 32, 20, processes=4)
    assert epochs == 3 and "7 steps of 32 on each of 4 processes" in why, "torchrun: each step takes 4 batches"


def test_planned_epochs_count_the_processes_torchrun_launched(monkeypatch):
    from datasets import Dataset

    from nbutils.train import planned_epochs

    params = validate({"domain": "x", "batch_size": 32})
    datasets = {"margins": Dataset.from_dict({"anchor": ["q"] * 860})}
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert planned_epochs(params, datasets)[0] == 1
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert planned_epochs(params, datasets)[0] == 3 and planned_epochs(params, datasets, processes=1)[0] == 1


def test_hard_negative_rows_follow_the_usual_count_not_the_largest():
    """Most pairs carry 2 negatives; one pair mined twice (a repeated claim) and one with 3 must not
    push the others out of the rows with hard negatives."""
    rows = [
        Triple(f"subject {i}", f"p{i}", "gold", "train split", f"p{(i + k) % 12}", "hybrid", k, 1.0)
        for i in range(6)
        for k in (1, 2)
    ]
    rows += rows[:2]  # the first pair again, with the same two negatives
    rows += [Triple("subject 9", "p9", "gold", "x", f"p{k}", "hybrid", k, 1.0) for k in (1, 2, 3)]
    rows += [Triple("subject 10", "p10", "gold", "x", "p1", "hybrid", 1, 1.0)]
    d = build_datasets(rows, CORPUS, loss="mnrl")
    assert d["hard"].column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert sorted(d["hard"]["anchor"]) == [f"subject {i}" for i in range(6)] + ["subject 9"]
    assert d["pairs"]["anchor"] == ["subject 10"]
    assert len(build_datasets(rows, CORPUS, negatives=3, loss="mnrl")["hard"]) == 1
    assert negatives_used(rows, d) == {"mined": 6 * 2 + 3 + 1, "trained": 7 * 2}
    for loss in ("triplet", "cosent"):
        assert negatives_used(rows, build_datasets(rows, CORPUS, loss=loss)) == {"mined": 16, "trained": 16}


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(loss, minilm, tmp_path):
    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    data = build_datasets(TRIPLES, CORPUS, loss=loss)
    assert make_loss(loss, model.model, matryoshka=True) is not None
    res = fine_tune(
        model.model, data, tmp_path / "m", device="cpu", epochs=1, batch_size=4, loss=loss, learning_rate=1e-4
    )
    assert (tmp_path / "m" / "model.safetensors").exists() and res.loss_curve()[1]


@pytest.fixture
def made(monkeypatch) -> list:
    """Every loss :func:`fine_tune` builds through ``make_loss``, in order."""
    import nbutils.train

    built = []
    original = nbutils.train.make_loss
    monkeypatch.setattr(nbutils.train, "make_loss", lambda *a: built.append(original(*a)) or built[-1])
    return built


def test_cached_mnrl_encodes_in_the_mini_batch_asked_for(minilm, tmp_path, made):
    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    data = build_datasets(TRIPLES, CORPUS, loss="cached_mnrl")
    fine_tune(model.model, data, tmp_path / "m", device="cpu", batch_size=4, loss="cached_mnrl", mini_batch_size=2)
    assert [m.mini_batch_size for m in made] == [2]
    assert validate({"domain": "x", "loss": "cached_mnrl"}).cached_mini_batch == 32
    with pytest.raises(ParamsError, match="cached_mini_batch: 0 must be at least 1"):
        validate({"domain": "x", "cached_mini_batch": 0})


def test_a_loss_built_by_the_caller_replaces_the_named_one(minilm, tmp_path, made):
    class Counted(MultipleNegativesRankingLoss):
        calls = 0

        def forward(self, *a, **kw):
            Counted.calls += 1
            return super().forward(*a, **kw)

    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    loss = Counted(model.model, hardness_mode="in_batch_negatives", hardness_strength=9.0)
    data = build_datasets(TRIPLES, CORPUS, loss="mnrl")
    fine_tune(model.model, data, tmp_path / "m", device="cpu", batch_size=4, loss="mnrl", loss_module=loss)
    assert Counted.calls >= 2 and not made  # every step ran the caller's loss; the named one was never built
    assert (tmp_path / "m" / "model.safetensors").exists()


def test_dev_corpus_keeps_positives_and_each_querys_hardest_candidates():
    """Over the limit: positives, then BM25 candidates rank by rank across queries, then a seeded sample."""
    from nbutils.retrieval import BM25Index

    corpus = CORPUS | {f"x{i}": Passage(f"x{i}", "Other", f"Unrelated filler text number {i}.") for i in range(38)}
    corpus["ash"] = Passage("ash", "Volcanic ash", "Volcanic ash clouds ground flights across the region.")
    corpus["tide"] = Passage("tide", "Tidal power", "Tidal turbines turn the energy of tides into power.")
    bm25 = BM25Index(list(corpus), [p.full_text() for p in corpus.values()], "rank_bm25")
    queries = {"d1": "volcanic ash and flights", "d2": "tidal turbines"}
    qrels = {"d1": {"p10": 1, "p11": 0}, "d2": {"x37": 2}}

    assert dev_corpus(queries, qrels, corpus, 0, bm25) is corpus and dev_corpus(queries, qrels, corpus, 52) is corpus
    pool = dev_corpus(queries, qrels, corpus, 6, bm25)
    assert len(pool) == 6 and {"p10", "x37"} <= set(pool) and "p11" not in pool, "graded 0 is not a positive"
    assert {"ash", "tide"} <= set(pool), "each query's top BM25 candidate comes before any second-ranked one"
    assert list(pool) == [p for p in corpus if p in pool], "corpus order kept"

    sampled = dev_corpus(queries, qrels, corpus, 30, None, seed=1)
    assert len(sampled) == 30 and {"p10", "x37"} <= set(sampled)
    assert sampled.keys() == dev_corpus(queries, qrels, corpus, 30, None, seed=1).keys()
    assert sampled.keys() != dev_corpus(queries, qrels, corpus, 30, None, seed=2).keys()


class _StopAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


@pytest.mark.slow  # several real training runs
def test_dev_evaluation_card_and_resume_after_interruption(minilm, tmp_path):
    queries = {"d1": "what about subject 10", "d2": "what about subject 11"}
    evaluator = dev_evaluator(queries, {"d1": {"p10": 1}, "d2": {"p11": 1}}, CORPUS)
    data = build_datasets(TRIPLES, CORPUS)
    kwargs = dict(
        device="cpu", epochs=2, batch_size=4, evaluator=evaluator, checkpoint_dir=tmp_path / "ckpt", fingerprint="run-1"
    )
    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(model.model, data, tmp_path / "m", callbacks=[_StopAfterFirstSave()], **kwargs)
    assert list((tmp_path / "ckpt").glob("checkpoint-*")) and not (tmp_path / "m").exists()

    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    card = lambda r: model_card("base", {"gold": 8}, {"epochs": 2}, r.best_dev())  # noqa: E731
    res = fine_tune(model.model, data, tmp_path / "m", card=card, **kwargs)
    assert res.resumed and res.dev_passages == len(CORPUS)
    assert len(res.dev_curve()[0]) == 2 and "ndcg@10" in res.best_dev()
    readme = (tmp_path / "m" / "README.md").read_text()
    assert "## Fine-tuning record" in readme and "gold: 8" in readme and "ndcg@10" in readme
    assert not (tmp_path / "ckpt").exists(), "checkpoints are removed after a successful save"

    other = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    assert not fine_tune(other.model, data, tmp_path / "m2", **{**kwargs, "fingerprint": "run-2"}).resumed
    assert (
        "not scored during training"
        in fine_tune(
            other.model, data, tmp_path / "m3", **{**kwargs, "evaluator": None, "fingerprint": ""}
        ).describe_dev()
    )


class _WeightsPerEpoch(TrainerCallback):
    """Keeps a copy of the weights at the end of each epoch."""

    def __init__(self):
        self.copies = []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.copies.append(_weights(model))


def _weights(model):
    import torch

    return torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])


@pytest.mark.slow  # a real training run
@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_epoch_saves_the_best_or_the_last_epoch(minilm, tmp_path, keep):
    from sentence_transformers import SentenceTransformer

    queries = {"d1": "what about subject 10", "d2": "what about subject 11"}
    real = dev_evaluator(queries, {"d1": {"p10": 1}, "d2": {"p11": 1}}, CORPUS)

    class Declining(type(real)):  # the first epoch scores best, so best and last differ
        calls = 0

        def __call__(self, *args, **kwargs):
            out = super().__call__(*args, **kwargs)
            Declining.calls += 1
            return {**out, "dev_cosine_ndcg@10": 1.0 / Declining.calls}

    evaluator = Declining.__new__(Declining)
    evaluator.__dict__.update(real.__dict__)
    weights = _WeightsPerEpoch()
    model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
    res = fine_tune(
        model.model,
        build_datasets(TRIPLES, CORPUS),
        tmp_path / "m",
        device="cpu",
        epochs=2,
        batch_size=4,
        evaluator=evaluator,
        keep=keep,
        callbacks=[weights],
        embedding_store=tmp_path / "emb",
    )
    saved = _weights(SentenceTransformer(str(tmp_path / "m"), device="cpu"))
    gaps = [float((saved - epoch).abs().max()) for epoch in weights.copies]
    kept, other = (0, 1) if keep == "best" else (1, 0)
    assert len(gaps) == 2 and gaps[kept] < 1e-6 < gaps[other], gaps
    assert res.kept == keep and res.kept_dev()["ndcg@10"] == (1.0 if keep == "best" else 0.5)
    assert f"({keep}: epoch {1 if keep == 'best' else 2}) scores ndcg@10 {res.kept_dev()['ndcg@10']:.3f}" in (
        res.describe_dev()
    )
    assert f"Dev metrics ({keep} epoch)" in model_card("base", {}, {}, res.kept_dev(), res.kept)
    # the last dev evaluation's rows reach the embedding store only when they are the saved weights' rows
    from nbutils.embedding_store import EmbeddingStore, passage_hash

    loaded = load_encoder(str(tmp_path / "m"), "cpu", 32)
    found = EmbeddingStore(tmp_path / "emb", loaded).lookup([passage_hash(p.full_text()) for p in CORPUS.values()])
    if keep == "last":
        assert len(found.hashes) == len(CORPUS)
        direct = loaded.encode_documents([p.full_text() for p in CORPUS.values()], progress=False)
        assert np.allclose(found.rows, direct, atol=1e-5)
    else:
        assert found.hashes == []


def test_keep_epoch_is_validated():
    with pytest.raises(ParamsError, match="keep_epoch.*best, last"):
        validate({"keep_epoch": "first"})


@pytest.mark.slow  # two training processes
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_launcher_two_processes_then_the_notebook_reuses_the_run(launcher, beir_dir, tmp_path):
    """``torchrun`` / ``accelerate launch -m nbutils train`` train with two CPU processes (gloo); train_domain() then
    reports that run."""
    import yaml

    from nbutils.config import load_params
    from nbutils.mine import known_positives, mine_bm25
    from nbutils.pairs import save_triples
    from nbutils.paths import DomainPaths
    from nbutils.synthesize import gold_pairs
    from nbutils.train import load_training_data, train_domain
    from nbutils.workspace import bm25_index, prepare_workspace
    from tests.conftest import PY, TORCHRUN_2, nbutils_train

    params_file = tmp_path / "pets.yaml"
    values = {"domain": "pets", "data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "device": "cpu"}
    values |= {"test_fraction": 0.0, "dev_fraction": 0.0, "max_seq_length": 32, "batch_size": 2, "epochs": 1}
    values["min_steps"] = 0  # the epochs as set
    params_file.write_text(yaml.safe_dump(values))
    params = load_params("pets", params_file)
    paths = DomainPaths.from_params(params)
    ws = prepare_workspace(params, paths)
    pairs = gold_pairs(ws)
    save_triples(mine_bm25(pairs, bm25_index(ws), known_positives(pairs), 1, 0, 4), paths.triples)

    if launcher == "torchrun":
        cmd = TORCHRUN_2
    else:
        import socket

        with socket.socket() as s:  # a free port for the rendezvous (torchrun's --standalone picks its own)
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        # the command a user runs on several GPUs; with device: cpu the processes talk over gloo
        cmd = [PY, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
        cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port]
    printed = nbutils_train(cmd, "pets", params_file)
    assert printed["processes"] == 2 and not printed["reused"], "one line, from rank 0, for a two-process run"
    assert (paths.model_dir / "model.safetensors").exists()

    triples, datasets = load_training_data(params, ws, paths)
    base = load_encoder(params.base_model, "cpu", params.max_seq_length, training=True)
    result = train_domain(params, ws, datasets, base, paths, triples)
    assert result.reused and result.processes == 2 and result.rows == printed["rows"]

    params = params.replace(learning_rate=1e-4)  # another run: trained again, in this process
    assert not train_domain(params, ws, datasets, base, paths, triples).reused


def test_windowed_dev_evaluation_sees_what_truncation_cuts_off(minilm):
    """A dev query answered only past the model's window: found with windows, missed when truncated."""
    corpus = dict(CORPUS) | {
        "bees": Passage("bees", "Honey bees", " ".join(BEES[:5] + BEES[-1:])),
        "hive": Passage("hive", "Hives", "Managed bee colonies live in wooden hives kept by beekeepers."),
    }
    queries, qrels = {"q": "varroa mites threaten managed colonies"}, {"q": {"bees": 1}}
    model = load_encoder(minilm.resolved.location, "cpu", 32).model
    scores = {w: dev_evaluator(queries, qrels, corpus, windows=w)(model)["dev_cosine_mrr@10"] for w in (False, True)}
    assert scores[True] == 1.0 and scores[False] < 1.0


def test_dev_evaluation_with_sentence_windows_scores_passages_as_the_index_serves_them(minilm):
    """With ``window_sentences`` a passage scores as its best sentence window during training too: a claim about
    one sentence of an unrelated abstract is found first, and the metrics equal those of the served index."""
    from nbutils.metrics import evaluate_run
    from nbutils.models import encode_with_windows
    from nbutils.retrieval import DenseIndex

    corpus = dict(CORPUS) | {
        "long": Passage("long", *COHORT),
        "bones": Passage("bones", "Bone health", "Calcium intake and bone density in elderly women."),
    }
    queries = {"q": "vitamin D does not prevent fractures in older women", "c": "what about subject 7"}
    qrels = {"q": {"long": 1}, "c": {"p7": 1}}
    whole = dev_evaluator(queries, qrels, corpus)(minilm.model)
    served = dev_evaluator(queries, qrels, corpus, window_sentences=2)(minilm.model)
    assert whole["dev_cosine_accuracy@1"] == 0.5 and served["dev_cosine_accuracy@1"] == 1.0

    rows, starts = encode_with_windows(minilm, list(corpus.values()), size=2, progress=False)
    run = DenseIndex(list(corpus), rows, starts).search(minilm.model, queries, k=100)
    ours = evaluate_run(qrels, run, k_values=(10,))
    assert served["dev_cosine_ndcg@10"] == pytest.approx(ours["ndcg@10"], abs=1e-6)
    assert served["dev_cosine_mrr@10"] == pytest.approx(ours["mrr@10"], abs=1e-6)


def test_run_fingerprint_follows_how_the_epoch_is_chosen():
    """Training settings, and whether (and on what pool) the dev split picks the epoch, identify a run."""
    from nbutils.config import validate
    from nbutils.train import run_fingerprint

    def fp(corpus_size=1000, **over):
        return run_fingerprint(validate({"domain": "x", **over}), TRIPLES, "base", corpus_size)

    assert fp() == fp() != fp(learning_rate=1e-4)
    assert fp() != fp(eval_during_training=False) and fp() != fp(dev_corpus_max=500)
    assert fp(eval_during_training=False) == fp(eval_during_training=False, dev_corpus_max=500), "no pool, no say"
    assert fp(corpus_size=400) == fp(corpus_size=400, dev_corpus_max=500), "a corpus under the limit is scored whole"
    assert fp(corpus_size=600) != fp(corpus_size=600, dev_corpus_max=500)
    assert fp(loss="cached_mnrl", cached_mini_batch=8) == fp(), "memory_guard's cached variant is the same run"
    assert fp(loss="infonce") != fp()
    assert fp(window_sentences=2) != fp(), "the dev split scores sentence windows: another epoch may be kept"
    assert fp(eval_during_training=False, window_sentences=2) == fp(eval_during_training=False)


@pytest.mark.slow  # a real training run
def test_model_card_quotes_training_rows_only_when_asked(minilm, tmp_path):
    """sentence-transformers' card quotes training rows (widget, usage examples, sample rows); with
    ``card_examples=False`` no query or passage of the training data reaches the saved card."""
    data = build_datasets(TRIPLES, CORPUS)
    texts = [t.query for t in TRIPLES] + [p.text for p in CORPUS.values()]
    cards = {}
    for examples in (True, False):
        model = load_encoder(minilm.resolved.location, "cpu", 32, training=True)
        out = tmp_path / f"m-{examples}"
        fine_tune(model.model, data, out, device="cpu", epochs=1, batch_size=4, card_examples=examples)
        cards[examples] = (out / "README.md").read_text()
    assert any(text in cards[True] for text in texts), "the default card quotes training rows"
    assert not [text for text in texts if text in cards[False]]
    assert "Size: 8 training samples" in cards[False], "sizes and statistics stay"
