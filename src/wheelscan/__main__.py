# ``python -m wheelscan``: the same entry point as the ``wheelscan`` script (launch.py)
from wheelscan.launch import entry

entry()
