"""Stage 2, encoding: encoders (offline-first), word ↔ piece alignment, windows, word features."""
