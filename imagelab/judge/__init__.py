"""The judge: a fixed timm classifier that names the breed of each image (or none), trained once on real data."""
