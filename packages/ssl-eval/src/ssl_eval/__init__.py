"""Benchmarks for visual representations: kNN, linear probe, SVM, low-shot, clustering, retrieval, detection transfer."""

from ssl_eval.__about__ import __version__

__all__ = ["__version__"]
