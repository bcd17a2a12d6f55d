"""wheelscan: a high-performance batch auditor of Linux binary wheels."""

__version__ = "0.1.0"
