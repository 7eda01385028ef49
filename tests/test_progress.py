"""Progress bars: one helper (runtime/progress.py), switched off by TQDM_DISABLE and outside the main process."""

import pytest
import torch

import imagelab.generators.diffusion as diffusion
from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.generators import DataSpec
from imagelab.generators.ddpm import DDPM, DDPMConfig
from imagelab.plugin import progress_bar
from imagelab.runtime import distributed
from tests.test_generators import TINY_DIFFUSION, TINY_UNET


@pytest.fixture
def bars_on(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)


@pytest.mark.parametrize(("value", "shown"), [(None, True), ("0", True), ("1", False), ("true", False)])
def test_the_helper_honours_tqdm_disable(value, shown, monkeypatch, capsys):
    if value is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", value)
    for _ in progress_bar(range(3), "counting sheep", unit="sheep"):
        pass
    assert ("counting sheep" in capsys.readouterr().err) is shown


def test_only_the_main_process_shows_bars(bars_on, monkeypatch, capsys):
    monkeypatch.setattr(distributed, "_current", distributed.Processes(index=1, count=2))
    with progress_bar(5, "second process", unit="step") as bar:
        bar.update(5)
    assert bar.disable
    assert "second process" not in capsys.readouterr().err


def test_a_bar_of_a_total_counts_updates(bars_on, capsys):
    with progress_bar(4, "steps", unit="step") as bar:
        for _ in range(4):
            bar.update(1)
        assert bar.n == bar.total == 4
    assert "steps" in capsys.readouterr().err


def test_a_terminal_only_bar_stays_out_of_a_redirected_stream(bars_on, capsys):
    # The --jobs progress lines: one per running job on a terminal, none in a log or a captured stream.
    with progress_bar(3, "job line", unit="gen", position=1, terminal_only=True) as bar:
        bar.update(3)
    assert bar.disable and "job line" not in capsys.readouterr().err
    with progress_bar(3, "shown line", unit="gen", position=1) as bar:
        bar.update(3)
    assert "shown line" in capsys.readouterr().err


def test_diffusion_sampling_reports_every_denoising_step_and_changes_no_sample(bars_on, monkeypatch, capsys):
    pool = ImageSet.create(render_dogs(torch.tensor([0] * 20 + [5] * 12), list(range(32)), 16),
                           torch.tensor([0] * 20 + [1] * 12))
    generator = DDPM(DDPMConfig(**TINY_DIFFUSION, **TINY_UNET), DataSpec(16, 2), torch.device("cpu"))
    generator.fit(pool, seed=0)
    assert "ddpm fit" in capsys.readouterr().err  # the training skeleton's bar

    bars = []

    def recording(*args, **kwargs):
        bars.append(progress_bar(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(diffusion, "progress_bar", recording)
    shown = generator.sample(20, seed=3).images
    assert "ddpm sampling" in capsys.readouterr().err
    # 20 images in passes of 16 rows: 2 passes of 2 denoising steps each, every one counted.
    assert [(bar.n, bar.total) for bar in bars] == [(4, 4)]

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert torch.equal(generator.sample(20, seed=3).images, shown)  # a bar draws no random numbers
    assert capsys.readouterr().err == ""
