"""A plugin package with a correct tiny generator and one broken variant per common mistake.

tests/test_broken_plugins.py "installs" it as the distribution ``imagelab-broken-plugins``
(a .dist-info with entry points on a temporary site directory, as ``pip install`` would
leave it) and runs each variant through ``imagelab run``.
"""
