"""Frozen engines kept for the histories that ran on them (see each module)."""
