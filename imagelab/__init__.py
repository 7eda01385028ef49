"""imagelab: a lab for watching image generators collapse when trained on their own output.

    import imagelab

    run = imagelab.run(overrides=["loop.generations=5"], out="runs/first")   # run (or resume) a lab
    run.rows[-1]["breeds_alive"], run.samples(5)                              # its metrics and images
    imagelab.load_run("runs/first")                                           # any run folder, read back

The command line (`imagelab run ...`) is a thin shell over these; plugin authors import
from ``imagelab.plugin``. See docs/python-api.md.
"""

from imagelab.config import RunConfig, load_config
from imagelab.experiments.seeds import SeedRuns, run_seeds
from imagelab.lab import register_generator, run
from imagelab.run_reader import Run, load_run

__version__ = "0.1.0"

__all__ = ["Run", "RunConfig", "SeedRuns", "__version__", "load_config", "load_run", "register_generator",
           "run", "run_seeds"]
