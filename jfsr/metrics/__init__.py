"""Evaluation metrics: image fidelity (PSNR, SSIM) in the standard and the paper's protocol."""
