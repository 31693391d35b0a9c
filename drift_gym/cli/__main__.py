"""``python -m drift_gym.cli``."""

from . import main

main()
