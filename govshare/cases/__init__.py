"""Start and talk to cases of every registered type (no HTTP here)."""
