"""Entry points for operators: the command line, the launcher, the worker build, replay and re-plan."""
