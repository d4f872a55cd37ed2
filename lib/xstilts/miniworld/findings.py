"""What made transfer emerge in the miniature (issue 4, item 6): measured, and shown in the data report.

These are findings about the miniature, from probes and full `mini` runs on this 2-core CPU (probes:
one seed, about +-5 points of noise); the data notebook prints them under the world's description.
"""

FINDINGS = """\
**What made transfer emerge in the miniature** (scores are zero-shot points above the trivial predictor
unless marked; "l" is the largest model):

1. **Fine-tuning steps decide which tasks learn.** Tagging learns within 30 steps (UD-POS/PAN-X English
   dev above 90); XNLI learns in 60 steps at batch 16 but not at batch 8; Mewsli-X's dual encoder needs
   40 or more (l, n1: +7 at 30 steps, +20 at 40, +30 at 60); TyDiQA's nearest language (n2) passed +10
   only when its steps went from 60 to 80 (+9 -> +15); XQuAD's `none` arm (l, n1) passed it when its
   steps went from 60 to 120 (+8 -> +15; MLQA, scored by the same runs, +15 -> +22).
2. **PAWS-X learns alone at a lower learning rate for longer.** Its analogue (two sentences of the same
   words; swapped or replaced words change the meaning) has no cue in either sentence alone: a model must
   compare them. At the target default (learning rate 2e-3, batch 16, 60 steps) the training loss sat at
   ln 2 for every size and nearly every seed, and only after MNLI or multi-task intermediate training did
   the largest model learn it (all arms n1 +6, `none` 0). Escaping that plateau is a matter of chance per
   run, and a lower rate for more examples makes it likely: on the largest model, 1e-3 for 2,560 examples
   (batch 32, 80 steps) escaped in 7 of 8 seeds (n1 +17 to +20), the default in 2 of 6. With
   `per_target.pawsx: {lr: 0.001, batch_size: 32, max_steps: 80}` the largest model learns it in 10 of
   its 11 runs (English dev 62 to 72) and transfers (n1 +19 over all arms, +12.5 for `none`); the
   smallest learns it in a few, so PAWS-X now also rises with scale (mean 51.5 for xs, 61.1 for l).
   Changing the world instead did not help robustly: one-word replacements only, swaps that break the
   verb's selection, negation flips, a corpus in which a quarter of the lines restate an event (6 of 9
   probes escaped, the full study did not, and TyDiQA lost its n2 transfer), pretraining the largest
   model twice as long (2 of 3 probes, `none` +7.5 in the full study, Tatoeba's rise broken): judge on
   full runs, not on one-seed probes.
3. **Balanced test sets.** XCOPA's 40 test items per language had a 57.5% majority class; with the labels
   balanced (as XNLI's are) chance is 50 and its n1 transfer (+12 to +18) is visible.
4. **Which layer a dual encoder reads.** Fine-tuned on the last layer, Mewsli-X left the widest model
   behind (English dev mAP 38 vs 84 for m, n1 +32); the middle layer of the 2-layer MLMs (the last is
   shaped by token prediction) gave n1 +91 and a score that rises with size
   (`per_target.mewslix.embedding_layer: 0.5`). LAReQA did not change (+24 vs +26).
5. **Shared grammatical words.** With only content words shared, XNLI transfer to the nearest language
   vanished (n1 at chance); sharing every function word (`function_share: 1.0`) gave n1 +29 to +38.
   Beyond n1, the pair tasks stay near chance: the tiny models align languages through shared tokens.
6. **Name anchors.** Names shared across languages drive NER and QA transfer (PAN-X n1 +93); where names
   are re-spelled in another script, PAN-X transfer falls to 4-24 points.
7. **Pretraining decides the scale effect.** At 400 MLM steps with 15% masking and dropout 0.1 the
   smallest model matched or beat the larger ones (PAN-X mean over n1-n5: xs 62 vs l 54); at 1,500 steps
   the largest model wins on XNLI, PAN-X and UD-POS. The default now pretrains with 40% masking and no
   dropout (the models underfit): the same 400 steps reach an MLM loss of 5.4 instead of 6.1 for the
   largest size, and the mean zero-shot score rises from the smallest to the largest model on most tasks.
   English fine-tuning after 60 steps barely moved with the better encoder (XNLI en 65 vs 66, QA F1 15 vs
   14): the fine-tuning budget, not the encoder, limits the hard tasks.
8. **Depth costs more than width on one CPU thread.** At these sizes a training step costs about the same
   per layer whatever the width, so the default ladder scales width at 2 layers (10k -> 265k non-embedding
   parameters, 27x). With 3-layer m/l models the study took 12.0 minutes; with 2 layers (and 30-step dual
   encoders and XCOPA stages), 10.9.
9. **Where the minutes go.** The 436 target runs are the cost, and half of each run was not training but
   loading, evaluating every language and writing tables (1.1 s per run, even for the smallest model).
   Smaller test sets (40 per language), English dev evaluated once, encoders loaded once per run for
   retrieval, a fused optimiser step, and runs claimed largest first by two worker processes brought that
   to 0.6 s, the target runs from 1,900 to 650 run-seconds and the study from 23 to 9 minutes.
10. **Code-switching** in the corpus (10% of sentences, 30% of words) made no visible difference at 400 MLM
   steps.
"""
