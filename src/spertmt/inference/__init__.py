"""Inference on top of the stages: the Predictor, the SpertMT facade, files and HTML."""
