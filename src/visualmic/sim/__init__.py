"""Synthetic videos with known truth, and the Cramér-Rao bound they are judged against."""
