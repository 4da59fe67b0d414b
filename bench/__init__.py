"""Benchmarks (``make bench``): each prints its figure and its ratio to a floor measured in the
same run, because this machine is shared and noisy. ``python -m bench [NAME ...]``."""
