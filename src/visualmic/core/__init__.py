"""Numerics on arrays: the recovery's building blocks.

Nothing in here opens a file, prints, or imports anything above it (``io``,
``engine``, ``sim``, ``eval``, ``learn``, ``cli``); import-linter checks it.

* :mod:`~visualmic.core.pyramid` -- the complex steerable pyramid (frequency domain).
* :mod:`~visualmic.core.motion` -- local phase differences -> band signals (Davis et al.).
* :mod:`~visualmic.core.linear` -- the fast (linear) estimator and its large-motion check.
* :mod:`~visualmic.core.combine` -- band alignment and maximum-likelihood combination.
* :mod:`~visualmic.core.post` -- high-pass, band-pass, spectral subtraction, resampling.
"""
