"""Benchmarks behind `warden bench ...`: a dev-only distribution, never in a service image.

Each prints ratios against a baseline measured in the same run; none asserts wall-clock time.
"""
