"""`python -m core.data`: fetch (if needed) and verify MNIST, saying where the files came from."""
import logging

from core.data.mnist import DataError, ensure_mnist

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # to stderr
    try:
        print(f"MNIST ready in {ensure_mnist()}")
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
