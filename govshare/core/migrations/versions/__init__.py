"""Revision scripts, one per schema change: 0001_baseline.py, 0002_….py."""
