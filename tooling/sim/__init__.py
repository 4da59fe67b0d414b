"""Deterministic simulation of the sync protocol (``meibo sim``): one seeded scheduler with
virtual time drives the sans-I/O terminal and HQ state machines over simulated links and disks.

Nothing here reads the real clock or draws real randomness: a seed (and the commit) replays a
run exactly. See docs/simulation.md.
"""
