"""The HTML report and the comparison page: self-contained, escaped, tolerant of missing parts, browsable.

Most tests write a small synthetic run folder (fast, and free to name a breed
``<script>alert(1)</script>``); one builds a real tiny run, whose report the
browser test opens in headless Chromium.
"""

from __future__ import annotations

import csv
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import torch
import yaml
from safetensors.torch import save_file

from imagelab.cli import main
from imagelab.data.imageset import ImageSet
from imagelab.errors import RunFolderError
from imagelab.experiments.seed_aggregate import write_aggregate
from imagelab.metrics.breeds import breed_shares, census
from imagelab.report.compare import build_comparison
from imagelab.report.grids import breed_rows, sample_grid
from imagelab.report.html import build_report
from imagelab.report.mosaic import spaced
from imagelab.report.seeds_report import build_seeds_report

EVIL = "<script>alert(1)</script>"
BREEDS = ("golden_retriever", "dachshund", EVIL)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# --- a synthetic run folder ----------------------------------------------------------------------


def breed_counts(generation: int) -> list[int]:
    """Images per breed (then unrecognized) in a 60-image generation; the last breed is lost at generation 2."""
    return [34, 16, 8 if generation < 2 else 0, 2] if generation < 2 else [36, 19, 0, 5]


def write_run(root: Path, breeds=BREEDS, generations: int = 3, planned: int | None = None) -> Path:
    """A run folder as `imagelab run` leaves it, with random 8 px images and fixed breed counts."""
    root.mkdir(parents=True)
    config = {"seed": 0, "device": "cpu", "data": {"name": "folder", "resolution": 8, "breeds": list(breeds)},
              "generator": {"name": "resample"}, "loop": {"generations": planned or generations, "regime": "replace"},
              "eval": {"detection_floor": 0.02}}
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "judge").mkdir()
    (root / "judge" / "judge.json").write_text(json.dumps({"model": "test_resnet", "breeds": list(breeds),
                                                           "accuracy": 0.9}))
    manifest = {"status": "complete", "created": "2026-01-01T00:00:00", "setup": {"data": {"seconds": 0.5}},
                "judge": {"model": "test_resnet", "origin": "trained", "accuracy": 0.9}, "generations": {}}
    rows = []
    real_shares = None
    rng = torch.Generator().manual_seed(0)
    for generation in range(generations + 1):
        counts = breed_counts(generation)
        labels = torch.repeat_interleave(torch.tensor(list(range(len(breeds))) + [-1]), torch.tensor(counts))
        labels = labels[torch.randperm(len(labels), generator=rng)]
        images = torch.randint(0, 256, (len(labels), 3, 8, 8), dtype=torch.uint8, generator=rng)
        folder = root / f"gen_{generation:03d}"
        folder.mkdir()
        ImageSet.create(images, labels.clamp(min=0), provenance=generation).save(folder / "samples.safetensors")
        save_file({"labels": labels, "predicted": labels.clamp(min=0),
                   "confidence": torch.rand(len(labels), generator=rng),
                   "features": torch.randn(len(labels), 4, generator=rng)}, str(folder / "judgement.safetensors"))
        sample_grid(images, folder / "grid.png", 16)
        breed_rows(images, labels, tuple(breeds), folder / "breeds.png", 4)
        row = {"generation": generation, "fid": 0.1 + generation,
               **census(labels, tuple(breeds), detection_floor=0.02, real_shares=real_shares),
               "mean_confidence": 0.9, "samples": len(labels)}
        row.setdefault("tv_to_real", 0.0)  # generation 0 is the reference itself
        if real_shares is None:
            real_shares = breed_shares(labels, len(breeds))
        (folder / "metrics.json").write_text(json.dumps(row))
        rows.append(row)
        manifest["generations"][str(generation)] = {"stages": {"judge": {"seconds": 0.1}, "metrics": {"seconds": 0.2}}}
    with open(root / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


class _Links(HTMLParser):
    """Every src/href of a page, and the number of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def assert_self_contained(page: Path) -> None:
    """Every link is relative (or a fragment) and points at a file inside the page's folder."""
    for link in parse(page).links:
        if link.startswith("#") or link.startswith("data:"):
            continue
        assert not urlparse(link).scheme and not link.startswith("/"), link
        target = (page.parent / unquote(link.split("#")[0])).resolve()
        assert target.is_relative_to(page.parent.resolve()) and target.is_file(), link


# --- the run report --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory) -> Path:
    """The report of a complete synthetic run whose third breed is named like markup."""
    return build_report(write_run(tmp_path_factory.mktemp("synthetic") / "run"))


def test_report_of_a_synthetic_run_is_self_contained_and_complete(synthetic_report):
    index = synthetic_report
    run = index.parent.parent
    assert index == run.resolve() / "report" / "index.html"
    assert_self_contained(index)
    html = index.read_text()
    for section in ("summary", "plots", "generations", "mosaic", "animation", "metrics", "config"):
        assert f'id="{section}"' in html
    for name in ("plots/shares.png", "plots/quality.png", "plots/heatmap.png", "grids.gif", "mosaic.png",
                 "gen_003/grid.png", "gen_003/breeds.png", "metrics.csv", "config.yaml"):
        assert (index.parent / name).is_file(), name
    assert "undetectable from generation 2" in html  # the third breed's extinction, in the breeds table
    assert "undetectable from 2" in html  # and in the mosaic
    assert "coverage: not measured" not in html and "Incomplete run" not in html
    assert not list(run.glob(".report.tmp-*"))  # built under a temporary name, then renamed


def test_a_breed_named_like_markup_appears_as_text(synthetic_report, tmp_path):
    html = synthetic_report.read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parse(synthetic_report).scripts == 1  # the viewer's own script, nothing injected
    compare = build_comparison([synthetic_report.parent.parent], tmp_path / "compare")
    assert EVIL not in compare.read_text() and "&lt;script&gt;" in compare.read_text()


def test_an_interrupted_run_shows_what_exists_and_marks_what_is_missing(tmp_path):
    run = write_run(tmp_path / "run", generations=3, planned=6)
    (run / "gen_002" / "grid.png").unlink()
    (run / "gen_003" / "judgement.safetensors").write_bytes(b"truncated")  # an unreadable file is not fatal
    shutil.rmtree(run / "gen_001")
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    index = build_report(run)
    assert_self_contained(index)
    html = index.read_text()
    assert "Incomplete run" in html and "interrupted" in html
    assert "generation 2: missing grid.png" in html
    assert "generations 4–6: not run" in html
    assert "grid.png missing" in html  # the viewer's placeholder for generation 2
    assert 'id="gen-6"' in html  # planned generations get a (placeholder) panel too


def test_report_of_a_folder_without_metrics_or_with_damaged_files_builds(tmp_path):
    run = write_run(tmp_path / "run", generations=0, planned=2)
    (run / "metrics.csv").unlink()
    (run / "gen_000" / "metrics.json").unlink()
    html = build_report(run).read_text()
    assert "No generation has been measured yet" in html and "metrics.csv is missing" in html
    assert "generations 1–2: not run" in html
    (run / "manifest.json").write_text("{ cut short")
    (run / "config.yaml").write_text("loop: 3\neval: [1, 2]\n")  # sections that are not mappings
    html = build_report(run).read_text()
    assert "manifest.json is unreadable" in html and "unknown" in html  # the status is not known


def test_report_refuses_what_is_not_a_run(tmp_path, capsys):
    with pytest.raises(RunFolderError, match="not an imagelab run folder"):
        build_report(tmp_path)
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_spaced_keeps_first_and_last():
    assert spaced(list(range(5)), 12) == [0, 1, 2, 3, 4]
    chosen = spaced(list(range(101)), 12)
    assert len(chosen) == 12 and chosen[0] == 0 and chosen[-1] == 100


# --- the comparison page ---------------------------------------------------------------------------


def test_compare_overlays_runs_and_refuses_bad_folders(tmp_path, capsys):
    first, second = write_run(tmp_path / "a" / "run"), write_run(tmp_path / "b" / "run", generations=2)
    out = tmp_path / "compare"
    assert main(["compare", str(first), str(second), "--out", str(out)]) == 0
    assert_self_contained(out / "index.html")
    html = (out / "index.html").read_text()
    assert "a/run" in html and "b/run" in html  # same folder names, told apart by their parents
    assert (out / "runs.png").is_file() and "loop.generations" in html  # overlaid plots; the config difference
    assert main(["compare", str(first), str(second), "--out", str(out)]) == 0  # an earlier comparison is replaced

    capsys.readouterr()
    assert main(["compare", str(first), str(tmp_path / "missing"), "--out", str(tmp_path / "c2")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert main(["compare", str(first), str(tmp_path / "a"), "--out", str(tmp_path / "c3")]) == 2
    assert "not an imagelab run folder" in capsys.readouterr().err
    assert main(["compare", str(first), "--out", str(tmp_path / "a")]) == 2  # would replace the run itself
    assert "holds the run" in capsys.readouterr().err
    assert not (tmp_path / "c2").exists() and (first / "metrics.csv").is_file()


# --- a seeds folder: its report and its comparison draw the survival over seeds -------------------


@pytest.fixture(scope="module")
def synthetic_seeds(tmp_path_factory) -> Path:
    """A --seeds folder of two synthetic runs (the markup-named breed is lost at generation 2), with its
    aggregate, survival table and report, and a comparison of it with one of its runs."""
    root = tmp_path_factory.mktemp("seeds") / "seeds"
    for seed in (0, 1):
        write_run(root / f"seed_{seed}")
    write_aggregate(root, [0, 1])
    build_seeds_report(root)
    build_comparison([root, root / "seed_0"], root.parent / "compare")
    return root


def test_a_seeds_folder_has_a_survival_table_and_a_report_that_draws_it(synthetic_seeds):
    with open(synthetic_seeds / "survival.csv") as handle:
        survival = list(csv.DictReader(handle))
    assert [float(row[f"surviving_{EVIL}"]) for row in survival] == [1.0, 1.0, 0.0, 0.0]
    assert all(0.0 < float(row[f"null_surviving_{EVIL}"]) <= 1.0 for row in survival)  # the exact null beside it
    with open(synthetic_seeds / "aggregate.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert float(last[f"surviving_{EVIL}"]) == 0.0 and last["breeds_alive_seeds"] == "2;2"
    page = synthetic_seeds / "report" / "index.html"
    html = page.read_text()
    assert 'id="survival-plot"' in html and "&lt;script&gt;" in html and EVIL not in html
    assert (synthetic_seeds / "report" / "survival.png").is_file()
    assert 'id="survival-plot"' in (synthetic_seeds.parent / "compare" / "index.html").read_text()
    assert main(["report", str(synthetic_seeds)]) == 0  # `imagelab report` rebuilds a seeds folder's report
    assert 'id="survival-table"' in page.read_text()


# --- a real run in a real browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real tiny run of the resampling generator (no training); `imagelab run` builds its report at the end."""
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("report-run") / "tiny"
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("generator.")] + ["generator.name=resample"]
    assert main(["run", "--out", str(out), *overrides]) == 0
    return out


def test_run_ends_with_a_report(tiny_run):
    index = tiny_run / "report" / "index.html"
    assert index.is_file()
    assert_self_contained(index)
    assert len(list((tiny_run / "report" / "mosaic").glob("*.png"))) > 0
    # The distinct images against the resampling null's band: a resample run is that null.
    assert (tiny_run / "report" / "plots" / "distinct.png").is_file()
    assert "would keep (median dashed, 95% band shaded" in index.read_text()


def test_report_opens_in_a_headless_browser(tiny_run, synthetic_report, synthetic_seeds, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium executable at {CHROMIUM} (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
            page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            page.goto((tiny_run / "report" / "index.html").as_uri())
            page.wait_for_load_state("load")

            # 1. Every image loads.
            images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
            assert len(images) >= 3 + 2 * 3 + 1  # plots, two grids per generation, the animation (+ the mosaic)
            assert [src for src, width in images if width <= 0] == []

            # 2. Navigation: buttons, arrow keys, slider, and the URL fragment.
            visible = lambda: [g for g in range(3) if page.is_visible(f"#gen-{g}")]  # noqa: E731
            assert visible() == [0] and page.is_disabled("#previous")
            page.click("#next")
            assert visible() == [1] and page.evaluate("location.hash") == "#gen-1"
            page.locator("body").press("ArrowRight")
            assert visible() == [2] and page.is_disabled("#next")
            page.locator("body").press("ArrowLeft")
            assert visible() == [1]
            page.locator("#generation-slider").fill("0")
            assert visible() == [0]
            page.goto((tiny_run / "report" / "index.html").as_uri() + "#gen-2")
            assert visible() == [2]
            page.click("nav.sections >> text=Breed mosaic")
            assert page.is_visible("#mosaic-table")

            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

            # 3. A breed named like markup stays text in the browser too (no alert dialog fires).
            page.goto(synthetic_report.as_uri())
            page.wait_for_load_state("load")
            assert EVIL in page.inner_text("#fates")

            # 4. The seeds report and the comparison page draw the survival over seeds, beside the null.
            for drawn in (synthetic_seeds / "report" / "index.html", synthetic_seeds.parent / "compare" / "index.html"):
                page.goto(drawn.as_uri())
                page.wait_for_load_state("load")
                assert page.is_visible("#survival-plot")
                assert page.evaluate("document.getElementById('survival-plot').naturalWidth") > 0
            assert "No paired comparison" in page.inner_text("#paired")  # a folder and one of its own seeds
            page.goto((synthetic_seeds / "report" / "index.html").as_uri())
            assert EVIL in page.inner_text("#survival-table")
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
