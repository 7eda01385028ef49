"""Pools: how the next generation's training set is composed (regimes) and what is kept of it (filters)."""
