"""The HTTP server over the SpertMT facade."""
