"""The pieces of ``benchmarks/run.py``: one module per measured figure.

Nothing here is product code: the harness imports wheelscan as a user would, and any
instrumentation (counting inflated bytes) is applied from the outside, for one untimed pass.
"""
