"""Scheduling: turning wheels into results."""
