# ``python -m wheelscan``: the same entry point as the ``wheelscan`` script (launch.py)
try:
    from wheelscan.launch import entry
except KeyboardInterrupt:  # Ctrl-C as that small module is found: stopped, nothing to say
    raise SystemExit(130) from None

entry()
