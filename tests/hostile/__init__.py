"""Hostile wheels and ELF files, built by the tests (see cases.py for the catalogue)."""
