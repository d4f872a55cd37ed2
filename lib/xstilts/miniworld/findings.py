"""What made transfer emerge in the miniature (issue 4, item 6): measured, and shown in the data report.

These are findings about the miniature, from probes on this 2-core CPU (one seed, 120-example test
sets, about +-5 points of noise); the data notebook prints them under the world's description.
"""

FINDINGS = """\
**What made transfer emerge in the miniature** (probes with one seed; scores en / n1 / n2 / n3 / n4 / n5):

1. **Fine-tuning steps.** Pair tasks (XNLI, PAWS-X analogues) stay at chance with 60-150 target steps and learn
   at about 300 (PAWS-X en 68, n1 67); tagging tasks learn within 60 steps (UD-POS/PAN-X en above 95). The
   default `mini` profile, held to about ten minutes on two cores, trains 60 steps: its pair-task and QA scores
   sit near chance, its tagging scores do not. Raise `target.max_steps` (and `intermediate.max_steps`) to see the
   pair tasks learn, at a proportional cost in time.
2. **Shared grammatical words.** With only content words shared, XNLI transfer to the nearest language vanished
   (n1 at chance); sharing every function word (`function_share: 1.0`) gave n1 60-69 on XNLI.
3. **Name anchors.** Names shared across languages drive NER and QA transfer (PAN-X n1/n2/n5 at 70-99); where
   names are re-spelled in another script, PAN-X transfer falls to 4-24.
4. **Pretraining decides the scale effect.** At 400 MLM steps the smallest model matched or beat the larger
   ones (PAN-X mean over n1-n5: xs 62 vs l 54); at 1,500 steps the largest model beats the smallest on XNLI
   (42 vs 40), PAN-X (54 vs 47) and UD-POS (45 vs 42), and the Cyrillic language starts to transfer.
5. **Code-switching** in the corpus (10% of sentences, 30% of words) made no visible difference at 400 MLM steps.
"""
