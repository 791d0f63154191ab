"""`python -m core.training ...`: the training command (core.training.train.main)."""
from core.training.train import main

main()
