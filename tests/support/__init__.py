"""Helpers shared by test folders: starting real server processes, isolating Redis keys."""
