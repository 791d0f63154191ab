"""Denoising: the assignment's denoisers behind one interface (denoise: AE, VAE bottleneck, MAP),
MAP's validated defaults (defaults) and the study that chooses them (study), the classical filters
(baselines), the judge that reads "is it still the same digit?" (judge), the scoreboard that puts
them all on the same noisy test digits (scoreboard), and pose-aware MAP (pose_map).
"""
