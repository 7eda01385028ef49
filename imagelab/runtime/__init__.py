"""Plumbing every stage may use: device choice, processes, the shared cache folder, finite checks, progress bars."""
