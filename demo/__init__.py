"""The Gradio demo: app.py (UI) and pad.js (the drawing pad); inputs.py, noise.py, engine.py,
references.py and latent_map.py (computing, no UI); testing.py (helpers for tests and benchmarks)."""
