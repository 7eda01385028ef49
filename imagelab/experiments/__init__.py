"""Experiments over many runs: one config with many seeds, and sweeps over a grid of settings."""
