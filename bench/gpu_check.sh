#!/usr/bin/env bash
# One device run of the benchmarks that need a GPU. PARTS picks them (default: all):
#   overhead  bench/train_overhead.py (nbutils vs plain Sentence Transformers)
#   synth     bench/synth_scifact.py train-eval (no-gold synthetic training; SYNTH_ONLY selects configurations)
#   train     bench/train_scifact.py (gold-pair recipes)
#   soup      bench/train_scifact.py on the suite's split (run "suite" first, or SOUP_SUITE=a finished suite's
#             domain folder): the current recipe (one hybrid negative, lr 1e-4) and the earlier ones (one and
#             three hybrid negatives, lr 3e-5) trained with three seeds, and the soups of their weights
#   suite     the whole notebook suite on params/scifact.yaml (the full recipe), stage 4 under torchrun
#             on one GPU; needs papermill, ipykernel and nbconvert wheels in .device/whl as well. Then the
#             recipe against plain training and the hybrid-negative recipes on the suite's dev and test
#             splits, with paired tests (bench/train_scifact.py --suite --test; rows scored as the suite
#             scores, add --windows there for a suite with long_passages: windows). SUITE_SET adds --set
#             overrides, e.g. "long_passages=windows" or "refit_with_dev=true" (then the rows meet the
#             suite's train-only model, and its evaluate report compares the refit with it on test).
#   losses    bench/loss_variants.py with one hybrid negative per pair (GTE's loss, hardness weighting, GIST
#             against MNRL on the suite's split; the CPU measured them with in-batch negatives only)
#   lr        bench/loss_variants.py's MNRL row at learning rates LRS (default 3e-5 1e-4 2e-4 3e-4), with
#             NEGS hybrid negatives per pair (default "0 1": in-batch only, and one; e.g. NEGS="1 3"; the CPU
#             measured 3e-5, 1e-4, 2e-4 with 0 and 1; bench/README.md "SciFact"), each with the training seeds SEEDS
#             (default 42; e.g. SEEDS="42 43 44")
# Expects, under .device/ (not versioned): whl/ (wheels missing on the GPU image), minilm/ (the base
# model folder), scifact/ (corpus.jsonl.gz, queries.jsonl, qrels/train.tsv); and the generated pairs
# of `bench/synth_scifact.py generate` in bench/out/scifact. Writes logs and results to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
PARTS=${PARTS:-overhead synth train}
SUITE=(--params params/scifact.yaml --set data_dir=.device/scifact --set base_model=.device/minilm --set outputs_dir=$OUT/outputs)
for kv in ${SUITE_SET:-}; do SUITE+=(--set "$kv"); done
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
gunzip -kf .device/scifact/corpus.jsonl.gz
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, sentence_transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', sentence_transformers.__version__, 'cuda', torch.cuda.is_available())"
quiet() { grep --line-buffered -v -E "it/s|s/it|Warning|warn|Computing widget"; }
for part in $PARTS; do
  case $part in
    overhead) python3 bench/train_overhead.py --data .device/scifact --model .device/minilm 2>&1 | quiet | tee $OUT/overhead.log ;;
    synth) python3 bench/synth_scifact.py train-eval --data .device/scifact --out bench/out/scifact --model .device/minilm \
             --only "${SYNTH_ONLY:-}" 2>&1 | quiet | tee $OUT/synth.log
           cp bench/out/scifact/results.json $OUT/synth_results.json 2>/dev/null ;;
    train) python3 bench/train_scifact.py --data .device/scifact --out bench/out/scifact-train --model .device/minilm \
             --synthetic bench/out/scifact 2>&1 | quiet | tee $OUT/train.log
           cp bench/out/scifact-train/results.json $OUT/train_results.json 2>/dev/null ;;
    soup) python3 bench/train_scifact.py --suite ${SOUP_SUITE:-$OUT/outputs/scifact} --test --model .device/minilm \
            --out $OUT/soup --seeds 42,1,2 --only "+ 1 hybrid negative, lr 1e-4 (params/scifact.yaml)" \
            --only "+ 3 hybrid negatives, copies excluded, 10 epochs" \
            --only "+ 1 hybrid-teacher negative, 10 epochs" 2>&1 | quiet | tee $OUT/soup.log
          rm -rf $OUT/soup/model-* ;;
    losses) python3 bench/loss_variants.py --data .device/scifact --model .device/minilm --out $OUT/losses \
              --negatives 1 2>&1 | quiet | tee $OUT/losses.log
            rm -rf $OUT/losses/model-* $OUT/losses/outputs ;;
    lr) for lr in ${LRS:-3e-5 1e-4 2e-4 3e-4}; do for n in ${NEGS:-0 1}; do for s in ${SEEDS:-42}; do
          python3 bench/loss_variants.py --data .device/scifact --model .device/minilm --out $OUT/lr/$lr-$n-$s --rows mnrl \
            --learning-rate $lr --negatives $n --seed $s 2>&1 | quiet | tee $OUT/lr-$lr-$n-$s.log
          rm -rf $OUT/lr/$lr-$n-$s/model-* $OUT/lr/$lr-$n-$s/outputs
        done; done; done ;;
    suite) python3 -m ipykernel install --prefix /tmp/site >/dev/null 2>&1
           export JUPYTER_PATH=/tmp/site/share/jupyter
           { python3 -m nbutils run scifact "${SUITE[@]}" --stages decide,synthesize,mine --quiet &&
             python3 -m torch.distributed.run --standalone --nproc_per_node 1 -m nbutils train scifact "${SUITE[@]}" &&
             python3 -m nbutils run scifact "${SUITE[@]}" --stages train,evaluate,maintain --quiet; } 2>&1 | quiet | tee $OUT/suite.log
           python3 bench/train_scifact.py --suite $OUT/outputs/scifact --test --model .device/minilm --out $OUT/compare \
             --only "plain ST, 10 epochs, b64, lr 3e-5" --only "+ 1 hybrid-teacher negative, 10 epochs" \
             --only "+ 1 hybrid negative, lr 1e-4 (params/scifact.yaml)" \
             --only "+ 3 hybrid negatives, copies excluded, 10 epochs" \
             --only "+ 3 hybrid negatives, long passages in windows" 2>&1 | quiet | tee $OUT/compare.log ;;
  esac
done
rm -rf $OUT/outputs/scifact/work  # models and indexes: too large to come back
