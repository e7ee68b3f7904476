"""Evaluation against the truth (metrics) and figures (spectrograms)."""
