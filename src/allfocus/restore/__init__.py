"""Single-image restoration: sharpening, contrast, defocus maps and deconvolution."""
