"""Run folders: their layout, atomic writes, the manifest and lock, and reading a run back."""
