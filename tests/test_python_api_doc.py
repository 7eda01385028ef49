"""docs/python-api.md's example runs as written: the page and the API cannot drift apart."""

import re
from pathlib import Path

import torch

from imagelab.generators import GENERATORS

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def python_blocks(markdown: str) -> list[str]:
    """Each python block's code, padded with blank lines so a traceback names the line of the page."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE):
        blocks.append("\n" * markdown.count("\n", 0, match.start(1)) + match.group(1))
    return blocks


def test_the_documented_example_runs_and_does_what_it_says(tmp_path, monkeypatch, capsys):
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "the page has one example; every python block in it is run here"
    monkeypatch.chdir(tmp_path)  # the example writes runs/... relative to the working directory
    monkeypatch.setattr(GENERATORS, "_entries", dict(GENERATORS._entries))  # its generator: this test's only
    namespace: dict = {"__name__": "notebook"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - the page's own example

    # It stays a tiny lab: seconds, not the two minutes of the default.
    assert "loop.generations=2" in namespace["quick"] and "data.resolution=16" in namespace["quick"]
    run, copies = namespace["run"], namespace["copies"]
    assert run.status == "complete" and run.generations == [0, 1, 2] and run.report_file.is_file()
    assert run.root == (tmp_path / "runs" / "api-vae").resolve()
    assert len(namespace["samples"]) == int(run.rows[2]["samples"])
    assert namespace["fresh"].images.shape[0] == 8
    # The in-process generator really made generations 1 and 2, and comes back from its weights.
    assert copies.status == "complete"
    assert copies.config_dict["generator"] == {"name": "noisy-copy", "noise": 0.2}
    reloaded = copies.generator(1)
    assert type(reloaded).__name__ == "NoisyCopy"
    assert torch.equal(reloaded.sample(5, seed=7).images, copies.generator(1).sample(5, seed=7).images)
    printed = capsys.readouterr().out
    assert "complete [0, 1, 2]" in printed and "Report: " in printed and "NoisyCopy" in printed
