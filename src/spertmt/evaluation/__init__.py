"""Stage 6, evaluation: the SpERT-compatible evaluator."""
