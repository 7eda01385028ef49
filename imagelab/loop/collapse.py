"""The generation loop: fit -> sample -> judge -> metrics -> next pool, resumable stage by stage.

Generation 0 is the real pool: it is judged and measured like any generation, which
gives the reference shares and the real-vs-real FID floor. Each later generation g
fits a generator on the pool the regime composes, samples a new set, has the judge
label it and writes a metrics row. Every stage's randomness comes from
``derive_seed(seed, stage, g)``, and every stage's result is on disk before the
manifest marks it complete, so a killed run resumes where it stopped and reaches
the same numbers.

Launched as several processes (accelerate), every process runs this loop: sampling and
judging are split between them (sharding.py), training too (the generators'
own skeleton), while only the main process measures and writes the run folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from imagelab.config import RunConfig
from imagelab.data.imageset import ImageSet
from imagelab.data.splits import RealData, build_real_data
from imagelab.generators import GENERATORS, DataSpec, Generator, build_generator, load_generator
from imagelab.judge.adequacy import WARNING_SOURCE, judge_warnings
from imagelab.judge.cache import obtain_judge
from imagelab.judge.judgement import Judgement
from imagelab.judge.model import JUDGING_BATCH, Judge
from imagelab.loop import stages
from imagelab.loop.generator_checks import GeneratorChecks
from imagelab.loop.health import generation_bytes, require_free_space
from imagelab.loop.sharding import Shards
from imagelab.metrics.extinction import extinctions
from imagelab.metrics.metric import GenerationInputs, MetricContext
from imagelab.metrics.suite import MetricSuite
from imagelab.pools.regimes import compose_pool, pool_composition, reservoir_pools
from imagelab.report.grids import breed_rows, sample_grid
from imagelab.runs.atomic import atomic_directory, atomic_write, atomic_write_text
from imagelab.runs.folder import RunFolder
from imagelab.runs.layout import (
    BREEDS_FILE,
    GENERATION_METRICS_FILE,
    GENERATOR_DIR,
    GRID_FILE,
    JUDGEMENT_FILE,
    SAMPLES_FILE,
)
from imagelab.runtime import distributed
from imagelab.runtime.threads import SharedThreads
from imagelab.runtime.trackers import RunTrackers
from imagelab.seeding import derive_seed

log = logging.getLogger("imagelab")


@dataclass
class LoopOutcome:
    breeds: tuple[str, ...]
    rows: list[dict]  # one metrics row per generation, generation 0 first
    judge_accuracy: float
    detection_floors: dict[str, float]  # per breed, in breed order


class CollapseLoop:
    def __init__(self, config: RunConfig, folder: RunFolder, device: torch.device,
                 trackers: RunTrackers | None = None, threads: SharedThreads | None = None) -> None:
        self.config = config
        self.folder = folder
        self.device = device
        self.trackers = trackers or RunTrackers()  # log_with: each metrics row also goes there
        self.threads = threads  # re-divided before each stage between the imagelab runs on the machine
        self.processes = distributed.current()
        self.rows: list[dict] = []  # the main process's only: the others measure nothing
        # Set by the set-up stages at the start of run(), before generation 0:
        self.data: RealData | None = None
        self.judge: Judge | None = None
        self.detection_floors: dict[str, float] = {}  # per breed, in breed order
        self.metrics: MetricSuite | None = None  # the main process's only
        self.samples_per_generation = 0
        self.checks: GeneratorChecks | None = None  # what the generator returns is checked before it is kept
        self.real: Judgement | None = None  # the judge on generation 0 (the real pool): the metrics' baseline

    def run(self) -> LoopOutcome:
        """Run (or resume) every generation; returns all metrics rows."""
        config = self.config
        self.data = data = self._load_real_data()
        self.judge = self._obtain_judge()
        self.detection_floors = self._detection_floors()
        self.metrics = self._build_metrics()
        self.samples_per_generation = self._samples_per_generation()
        spec = DataSpec(resolution=config.data.resolution, num_classes=len(data.breeds))
        self.checks = GeneratorChecks(config.generator.name, spec)
        self.real = self._measure(0, data.pool, data.pool)
        self._warn_if_the_judge_is_weak()

        samples: list[ImageSet] = []
        judgements: list[Judgement] = []  # the judge on each generation's samples, for the filters
        generator: Generator | None = None
        for generation in range(1, config.loop.generations + 1):
            pool = compose_pool(config, data.pool, data.reservoir, samples, judgements, len(data.breeds))
            generated, generator = self._generate(generation, pool, generator)
            samples.append(generated)
            judgement = self._measure(generation, generated, pool)
            judgements.append(judgement)
        return self._finish()

    # --- set-up, before generation 0 --------------------------------------------------------------

    def _load_real_data(self) -> RealData:
        config = self.config
        # The main process goes first: it fills the photo cache the others then read.
        with stages.setup_step(self.folder, "data"), self.processes.main_first():
            data = build_real_data(config.data, reservoir_pools(config))
        # What the run really got: images per breed in each split, and files the dataset could not use.
        self.folder.set("data", {"split_counts": data.realised_counts(), "split_sizes": data.split_sizes,
                                 **data.source})
        log.info(f"data: {len(data.pool)} real images in the pool, {len(data.breeds)} breeds, "
                 f"{config.data.resolution}px; judge splits {len(data.judge_train)} train / "
                 f"{len(data.judge_eval)} held out")
        return data

    def _obtain_judge(self) -> Judge:
        """Train the judge on real data, or load it from the run folder or the cache."""
        config = self.config
        # The main process goes first: the others load the judge it trained.
        with stages.setup_step(self.folder, "judge_training") as info, self.processes.main_first():
            judge, origin = obtain_judge(config, self.data, self.device, self.folder.root / "judge")
            info["origin"] = origin
        log.info(f"judge: {config.judge.model} ({origin}), held-out accuracy {judge.accuracy:.2%}")
        self.folder.set("judge", {"model": config.judge.model, "origin": origin, "accuracy": judge.accuracy,
                                  "threshold": judge.threshold})
        return judge

    def _warn_if_the_judge_is_weak(self) -> None:
        """Log and record (manifest ``warnings``) a judge too weak to count breeds, with the settings to raise."""
        if not self.processes.is_main:
            return
        train_per_breed = len(self.data.judge_train) // len(self.data.breeds)
        warnings = judge_warnings(self.judge, self.rows[0]["share_unrecognized"], len(self.data.pool),
                                  train_per_breed)
        for warning in warnings:
            log.warning(warning["message"])
        others = [w for w in self.folder.manifest.get("warnings", []) if w.get("source") != WARNING_SOURCE]
        self.folder.set("warnings", others + warnings)

    def _detection_floors(self) -> dict[str, float]:
        """The configured common floor, or each breed's from the judge's false-positive bound."""
        configured = self.config.eval.detection_floor
        if configured is not None:
            floors = {breed: configured for breed in self.data.breeds}
        else:
            floors = {breed: self.judge.detection_floors[breed] for breed in self.data.breeds}
        self.folder.set("detection_floors", floors)
        return floors

    def _build_metrics(self) -> MetricSuite | None:
        """Every metric of the run, its real-side statistics computed once; None outside the main process."""
        if not self.processes.is_main:
            return None
        reference = self.data.reference
        with stages.setup_step(self.folder, "reference_features"):
            context = MetricContext(self.data.breeds, reference, self.judge.judge(reference.images).features,
                                    self.detection_floors, self.judge.label_confusion, self.config.eval,
                                    self.config.seed, self.device)
            fit_columns = GENERATORS.get(self.config.generator.name).fit_columns
            suite = MetricSuite(context, self.config.eval.extra_metrics(), fit_columns)
        # The run's columns, so a report or summary knows them without the metrics (plugins) at hand.
        self.folder.set("metrics", [declared.to_dict() for declared in suite.declared])
        return suite

    def _samples_per_generation(self) -> int:
        count = self.config.loop.samples_per_generation or len(self.data.pool)
        if count != len(self.data.reference):
            log.warning(f"loop.samples_per_generation={count} differs from the reference set's "
                        f"{len(self.data.reference)} images: FID and the k-NN metrics depend on sample size, "
                        f"so later generations do not compare exactly with generation 0 (docs/metrics.md)")
        return count

    # --- one generation -----------------------------------------------------------------------------

    def _generate(self, generation: int, pool: ImageSet,
                  previous: Generator | None) -> tuple[ImageSet, Generator | None]:
        """Fit a generator on ``pool`` and sample from it (or load what a previous attempt saved)."""
        samples_path = self._path(generation, SAMPLES_FILE)
        if self.folder.stage_done(generation, "sample"):
            return ImageSet.load(samples_path), None
        generator = self._fit(generation, pool, previous)
        count = self.samples_per_generation
        needed = generation_bytes(count, self.judge.feature_dim, len(self.data.breeds), self.config)
        require_free_space(self.folder.root, generation, needed, count)
        with self._stage(generation, "sample") as info:
            generated = self._sample(generation, generator)
            self._keep(samples_path, generated.save)
            info["count"] = len(generated)
        return generated, generator

    def _fit(self, generation: int, pool: ImageSet, previous: Generator | None) -> Generator:
        directory = self._path(generation, GENERATOR_DIR)
        checks = self.checks
        if self.folder.stage_done(generation, "fit"):
            with checks.call(generation, "fit"):
                return load_generator(directory, self.device)
        warm_start = None
        with checks.call(generation, "fit"):
            if self.config.loop.warm_start and generation > 1:
                warm_start = previous or load_generator(self._path(generation - 1, GENERATOR_DIR), self.device)
            generator = build_generator(self.config.generator, checks.spec, self.device)
        with self._stage(generation, "fit") as info:
            seed = derive_seed(self.config.seed, "fit", generation)
            with checks.call(generation, "fit"):
                report = generator.fit(pool, seed=seed, warm_start=warm_start)
                checks.fitted(generation, report, generator)  # before anything is saved
            if self.folder.writes:
                with atomic_directory(directory) as temp:
                    generator.save(temp)
            info.update(**pool_composition(pool), final_loss=report.final_loss)
            if generator.runtime_facts():  # what actually ran: precision, layout, compilation
                info["runtime"] = generator.runtime_facts()
            if report.extra:
                # The fit_<name> columns of this generation's row, kept here so a resumed run finds them.
                info["extra"] = {name: float(value) for name, value in report.extra.items()}
        return generator

    def _sample(self, generation: int, generator: Generator) -> ImageSet:
        """``samples_per_generation`` images of ``generator``, each process drawing its shard of them."""
        count = self.samples_per_generation
        shards = Shards(self.processes, count, generator.sampling_chunk)
        with self.checks.call(generation, "sample"):
            made = generator.sample_range(count, seed=derive_seed(self.config.seed, "sample", generation),
                                          start=shards.mine.start, stop=shards.mine.stop)
        self.checks.sampled(generation, made, shards.mine.stop - shards.mine.start)
        provenance = torch.full((count,), generation)
        samples = ImageSet(shards.gather(made.images.cpu()), shards.gather(made.labels.cpu()), provenance)
        self.checks.not_one_colour(generation, samples.images)  # before the samples are saved
        return samples

    def _measure(self, generation: int, images: ImageSet, pool: ImageSet) -> Judgement:
        """Judge ``images`` (learnt from ``pool``); the main process adds their row to metrics.csv."""
        if generation == 0 and not self._path(0, SAMPLES_FILE).exists():
            self._keep(self._path(0, SAMPLES_FILE), images.save)  # the real pool, kept like any samples
        judgement = self._judge(generation, images)
        if self.processes.is_main:
            real = judgement if generation == 0 else self.real
            self.rows.append(self._metrics_row(generation, images, judgement, pool, real))
            self.folder.write_metrics_csv(self.rows)
            self._log_row(self.rows[-1])
            self.trackers.log_generation(self.rows[-1], self._stages(generation), self._path(generation, GRID_FILE))
        return judgement

    def _judge(self, generation: int, images: ImageSet) -> Judgement:
        path = self._path(generation, JUDGEMENT_FILE)
        if self.folder.stage_done(generation, "judge"):
            return Judgement.load(path)
        with self._stage(generation, "judge"):
            shards = Shards(self.processes, len(images), JUDGING_BATCH)
            judgement = self.judge.judge(shards.take(images.images)).map(shards.gather)
            self._keep(path, judgement.save)
        return judgement

    def _metrics_row(self, generation: int, images: ImageSet, judgement: Judgement, pool: ImageSet,
                     real: Judgement) -> dict:
        """The generation's metrics row (with grids and metrics.json), or what an earlier attempt wrote."""
        path = self._path(generation, GENERATION_METRICS_FILE)
        if self.folder.stage_done(generation, "metrics"):
            return json.loads(path.read_text())
        with self._stage(generation, "metrics"):
            fit = self.folder.stage_info(generation, "fit").get("extra", {}) if generation else {}
            inputs = GenerationInputs(generation, images, judgement, pool, real, tuple(self.rows), fit)
            row = self.metrics.measure(inputs)
            self._draw_grids(generation, images, judgement)
            atomic_write_text(path, json.dumps(row, indent=2))
        return row

    def _draw_grids(self, generation: int, images: ImageSet, judgement: Judgement) -> None:
        """grid.png (random samples) and breeds.png (samples by judged breed), for people."""
        sample_grid(images.images, self._path(generation, GRID_FILE), self.config.eval.grid_samples)
        breed_rows(images.images, judgement.labels, self.data.breeds, self._path(generation, BREEDS_FILE),
                   self.config.eval.breed_row_samples)

    def _finish(self) -> LoopOutcome:
        self.folder.set("extinctions", extinctions(self.rows, self.detection_floors))
        self.folder.set("status", "complete")
        return LoopOutcome(self.data.breeds, self.rows, self.judge.accuracy, self.detection_floors)

    # --- bookkeeping ------------------------------------------------------------------------------

    def _path(self, generation: int, name: str) -> Path:
        """A file or folder of a generation's folder (names from runs/layout.py)."""
        return self.folder.generation_dir(generation) / name

    def _keep(self, path: Path, write: Callable[[Path], None]) -> None:
        """Write ``path`` atomically with ``write(temporary path)``; only the main process writes files."""
        if self.folder.writes:
            atomic_write(path, write)

    @contextmanager
    def _stage(self, generation: int, name: str) -> Iterator[dict]:
        with stages.stage(self.folder, generation, name, self.device, self.config) as info:
            if self.threads is not None:
                info["threads"] = self._share_threads(generation, name)
            yield info

    def _share_threads(self, generation: int, stage: str) -> int:
        """Re-divide the cores before a stage (runs may have started or ended); the stage's thread count."""
        before = self.threads.current
        choice = self.threads.update()
        if before is not None and choice.count != before.count:
            log.info(f"gen {generation} {stage}: {choice.count} torch thread{'s' * (choice.count != 1)} from now "
                     f"({choice.source}; --threads N keeps one count)")
        return choice.count

    def _stages(self, generation: int) -> dict[str, dict]:
        """The manifest's record of each complete stage of ``generation`` (seconds and facts)."""
        return self.folder.manifest["generations"].get(str(generation), {}).get("stages", {})

    def _log_row(self, row: dict) -> None:
        generation = row["generation"]
        done = self.folder.manifest["generations"].get(str(generation), {}).get("stages", {})
        timing = " ".join(f"{stage} {info['seconds']:.1f}s" for stage, info in done.items())
        log.info(f"gen {generation:>3}/{self.config.loop.generations}  FID {row['fid']:7.2f}  "
                 f"alive {row['breeds_alive']}/{len(self.data.breeds)}  "
                 f"unrecognized {row['share_unrecognized']:5.1%}  "
                 f"TV to real {row['tv_to_real']:.3f}  [{timing}]")
