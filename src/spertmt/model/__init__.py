"""Stage 4, model: the nn.Module (scores only), its outputs, losses, pairs and checkpoints."""
