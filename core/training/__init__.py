"""Training: one engine for every registry model (train), several at once (pool), time plans from
recorded costs (plan), and the convergence rule every shipped model is held to (convergence).

    python -m core.training NAME [--all --missing --force --jobs 2 --dry-run]   # see train.main
"""
