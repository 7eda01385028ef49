import numpy as np
import torch
from PIL import Image

from imagelab.report.grids import sample_grid


def test_sample_grid_draws_from_the_whole_set_not_its_start(tmp_path):
    # A pool stored breed by breed: 100 black images, then 100 white ones.
    images = torch.cat([torch.zeros(100, 3, 8, 8), torch.full((100, 3, 8, 8), 255.0)]).to(torch.uint8)
    sample_grid(images, tmp_path / "grid.png", 16, seed=0)
    pixels = np.asarray(Image.open(tmp_path / "grid.png"))
    assert (pixels == 0).any() and (pixels == 255).any()
    sample_grid(images, tmp_path / "again.png", 16, seed=0)
    assert (np.asarray(Image.open(tmp_path / "again.png")) == pixels).all()  # seeded: the same grid
