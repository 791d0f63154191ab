"""Beyond MAP: the whole posterior p(z | y) through the 16-D VAE prior, its mean as a denoiser, its
uncertainty, which digit it could be, and a warning when the prior does not fit.

    from core.denoising.posterior import estimate, single
    res = estimate.posterior(den, x_noisy, noise_level=0.5)   # batched: res.mean, res.std, res.draws(...)
    out = single.for_drawing(den, x_noisy, noise_level=0.5, art=artifact.load_artifact())  # the demo

Modules, by job:
- sampler: preconditioned MALA over images x chains (the target, the Laplace starts, the kernel);
- estimate: the posterior through the shipped Denoisers, with MAP's likelihoods and beta;
- diagnostics: R-hat, ESS, reliability/ECE, interval coverage, AUROC;
- claims: model error (predictive intervals), digit probabilities, the misfit statistic;
- nondigits: letters and photograph patches for the misspecification test;
- study: the sampler's budget chosen on validation images;
- evaluate, artifact: the test measurement -> results/posterior.json
  (`python -m core.denoising.posterior --write`; `--show` prints it);
- single: one drawing's summary for the demo.
"""
