"""(placeholder: being written)"""
from __future__ import annotations

MODELS: dict = {}
