"""The README's Python API example runs, line for line, on tiny data (the same calls, smaller settings)."""

import re
from pathlib import Path

import imagelab

README = Path(__file__).resolve().parents[1] / "README.md"

# Appended to every config the example names, so the example's own calls run in seconds; its own
# loop.generations stays, since the lines after it read that generation back.
TINY = ["data.resolution=16", "data.breeds=[golden_retriever,dachshund,petit_basset_griffon_vendeen]",
        "data.imbalance.max_count=60", "data.imbalance.ratio=10", "data.judge_train_per_breed=40",
        "data.eval_per_breed=20", "judge.epochs=1", "judge.min_steps=0", "generator.epochs=1", "eval.grid_samples=16",
        "device=cpu"]
TINY_DDPM = ["generator.base_channels=8", "generator.channel_mult=[1,2]", "generator.sampling_steps=2"]


def readme_example() -> str:
    (block,) = re.findall(r"^## Python API\n.*?^```python\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)
    return block


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes runs/... relative to the working directory
    real_run, real_seeds = imagelab.run, imagelab.run_seeds
    calls = []

    def tiny_run(config=None, *, out=None, overrides=()):
        extra = TINY + (TINY_DDPM if config == "toy-ddpm" else [])
        calls.append(config)
        return real_run(config, out=out, overrides=[*extra, *overrides])

    def tiny_seeds(config=None, *, seeds, out=None, overrides=()):
        calls.append(config)
        return real_seeds(config, seeds=seeds, out=out, overrides=[*TINY, "loop.generations=1", *overrides])

    monkeypatch.setattr(imagelab, "run", tiny_run)
    monkeypatch.setattr(imagelab, "run_seeds", tiny_seeds)
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)  # noqa: S102 - the README's own example

    assert calls == ["toy-ddpm", "toy-vae"]
    run = namespace["run"]
    assert run.status == "complete" and run.generations == [0, 1, 2, 3]
    again = imagelab.load_run("runs/ddpm")
    assert again.generations == run.generations and [r["fid"] for r in again.rows] == [r["fid"] for r in run.rows]
    assert (tmp_path / "runs" / "seeds" / "aggregate.csv").is_file()
