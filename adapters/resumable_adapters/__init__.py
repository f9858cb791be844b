"""Adapters binding resumable_core to the outside world, one module per integration.

Importing this package imports nothing; each module imports its own dependency
and raises ImportError naming the extra to install when it is missing.
(The import name ``adapters`` is also used by an unrelated PyPI package,
AdapterHub's ``adapters``; do not install both in one environment.)
"""
