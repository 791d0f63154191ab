"""The Gradio demo (issue 5): app.py (UI), inference.py and latent_map.py (computing), testing.py."""
