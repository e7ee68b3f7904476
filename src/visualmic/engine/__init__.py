"""Composition: how frames go through the one estimator chain, and where.

* :mod:`~visualmic.engine.chain` -- THE estimator chain (reference, estimator, signals of a
  frame range), used by every runner below.
* :mod:`~visualmic.engine.recover` -- ``recover()``: open -> chain -> combine -> post-process.
* :mod:`~visualmic.engine.stream` -- ``listen()``: causal, live recovery.
* :mod:`~visualmic.engine.dask` -- frame ranges on Dask workers; :mod:`~visualmic.engine.batch`
  many videos.
* :mod:`~visualmic.engine.threads` -- decoding on a background thread, BLAS thread control.
* :mod:`~visualmic.engine.torch` -- the optional PyTorch backend of the estimators.

The engine never imports :mod:`visualmic.learn`: the enhancer is handed in as a callable.
"""
