"""The generation loop: fit -> sample -> judge -> metrics -> next pool, resumable stage by stage.

Generation 0 is the real pool: it is judged and measured like any generation, which
gives the reference shares and the real-vs-real FID floor. Each later generation g
fits a generator on the pool the regime composes, samples a new set, has the judge
label it and writes a metrics row. Every stage's randomness comes from
``derive_seed(seed, stage, g)``, and every stage's result is on disk before the
manifest marks it complete, so a killed run resumes where it stopped and reaches
the same numbers.

Launched as several processes (accelerate), every process runs this loop: training,
sampling and judging are split between them (distributed.py), while only the main
process measures and writes the run folder.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from safetensors.torch import load_file, save_file

from imagelab.runtime import distributed
from imagelab.config import RunConfig
from imagelab.data.imageset import ImageSet
from imagelab.data.splits import build_real_data
from imagelab.generators import DataSpec, Generator, NonFiniteLossError, build_generator, load_generator
from imagelab.loop.health import generation_bytes, out_of_memory_named, require_free_space
from imagelab.judge.model import JUDGING_BATCH
from imagelab.judge.judgement import Judgement
from imagelab.judge.cache import obtain_judge
from imagelab.metrics.asked import judged_as_asked
from imagelab.metrics.bbse import corrected_shares
from imagelab.metrics.breeds import breed_shares, census
from imagelab.metrics.suite import GenerationMetrics
from imagelab.pools.regimes import compose_pool, pool_composition, reservoir_pools
from imagelab.report.grids import breed_rows, sample_grid
from imagelab.runs.layout import BREEDS_FILE, GENERATION_METRICS_FILE, GENERATOR_DIR, GRID_FILE, JUDGEMENT_FILE, SAMPLES_FILE
from imagelab.runs.folder import RunFolder
from imagelab.runs.atomic import atomic_directory, atomic_write, atomic_write_text
from imagelab.seeding import derive_seed
from imagelab.metrics.extinction import extinctions

log = logging.getLogger("imagelab")


@dataclass
class LoopOutcome:
    breeds: tuple[str, ...]
    rows: list[dict]  # one metrics row per generation, generation 0 first
    judge_accuracy: float
    detection_floors: dict[str, float]  # per breed, in breed order


class CollapseLoop:
    def __init__(self, config: RunConfig, folder: RunFolder, device: torch.device) -> None:
        self.config = config
        self.folder = folder
        self.device = device
        self.rows: list[dict] = []  # the main process's only: the others measure nothing
        self.processes = distributed.current()

    def run(self) -> LoopOutcome:
        """Run (or resume) every generation; returns all metrics rows."""
        config = self.config
        with self._timed("data"), self.processes.main_first():  # the main process fills the photo cache
            data = build_real_data(config.data, reservoir_pools(config))
        self.data = data
        # What the run really got: images per breed in each split, and files the dataset could not use.
        self.folder.set("data", {"split_counts": data.realised_counts(), **data.source})
        log.info(f"data: {len(data.pool)} real images in the pool, {len(data.breeds)} breeds, "
                 f"{config.data.resolution}px; judge splits {len(data.judge_train)} train / {len(data.judge_eval)} held out")
        with self._timed("judge_training") as info, self.processes.main_first():  # the others load its judge
            self.judge, origin = obtain_judge(config, data, self.device, self.folder.root / "judge")
            info["origin"] = origin
        log.info(f"judge: {config.judge.model} ({origin}), held-out accuracy {self.judge.accuracy:.2%}")
        self.folder.set("judge", {"model": config.judge.model, "origin": origin, "accuracy": self.judge.accuracy,
                                  "threshold": self.judge.threshold})
        self.detection_floors = self._detection_floors()
        self.folder.set("detection_floors", self.detection_floors)
        if self.processes.is_main:
            with self._timed("reference_features"):
                reference_features = self.judge.judge(data.reference.images).features
                self.metrics = GenerationMetrics(data.breeds, data.reference, reference_features, config.eval,
                                                 config.seed, self.device)

        self.samples_per_generation = config.loop.samples_per_generation or len(data.pool)
        if self.samples_per_generation != len(data.reference):
            log.warning(f"loop.samples_per_generation={self.samples_per_generation} differs from the reference set's "
                        f"{len(data.reference)} images: FID and the k-NN metrics depend on sample size, so later "
                        f"generations do not compare exactly with generation 0 (docs/metrics.md)")
        self._measure(0, data.pool, data.pool)
        self.real_shares = self._shares_of(self.rows[0]) if self.rows else None

        samples: list[ImageSet] = []
        judgements: list[Judgement] = []  # the judge on each generation's samples, for the filters
        generator: Generator | None = None
        for generation in range(1, config.loop.generations + 1):
            pool = compose_pool(config, data.pool, data.reservoir, samples, judgements, len(data.breeds))
            generated, generator = self._generate(generation, pool, generator)
            samples.append(generated)
            judgement = self._measure(generation, generated, pool)
            judgements.append(judgement)
        self.folder.set("extinctions", extinctions(self.rows, self.detection_floors))
        self.folder.set("status", "complete")
        return LoopOutcome(data.breeds, self.rows, self.judge.accuracy, self.detection_floors)

    # --- stages --------------------------------------------------------------------------------

    def _generate(self, generation: int, pool: ImageSet, previous: Generator | None) -> tuple[ImageSet, Generator | None]:
        """Fit a generator on ``pool`` and sample from it (or load what a previous attempt saved)."""
        directory = self.folder.generation_dir(generation)
        samples_path = directory / SAMPLES_FILE
        if self.folder.stage_done(generation, "sample"):
            return ImageSet.load(samples_path), None
        generator = self._fit(generation, pool, previous)
        needed = generation_bytes(self.samples_per_generation, self.judge.feature_dim, len(self.data.breeds), self.config)
        require_free_space(self.folder.root, generation, needed, self.samples_per_generation)
        with self._stage(generation, "sample") as info:
            seed = derive_seed(self.config.seed, "sample", generation)
            count, chunk = self.samples_per_generation, generator.sampling_chunk
            shard = self.processes.shard(count, chunk)
            made = generator.sample_range(count, seed=seed, start=shard.start, stop=shard.stop)
            images = self.processes.gather(made.images.cpu(), count, chunk)
            labels = self.processes.gather(made.labels.cpu(), count, chunk)
            generated = ImageSet(images, labels, torch.full((count,), generation))
            if self.folder.writes:
                atomic_write(samples_path, generated.save)
            info["count"] = len(generated)
        return generated, generator

    def _fit(self, generation: int, pool: ImageSet, previous: Generator | None) -> Generator:
        directory = self.folder.generation_dir(generation) / GENERATOR_DIR
        if self.folder.stage_done(generation, "fit"):
            return load_generator(directory, self.device)
        warm_start = None
        if self.config.loop.warm_start and generation > 1:
            warm_start = previous or load_generator(self.folder.generation_dir(generation - 1) / GENERATOR_DIR, self.device)
        spec = DataSpec(resolution=self.config.data.resolution, num_classes=len(self.data.breeds))
        generator = build_generator(self.config.generator, spec, self.device)
        with self._stage(generation, "fit") as info:
            try:
                report = generator.fit(pool, seed=derive_seed(self.config.seed, "fit", generation), warm_start=warm_start)
            except NonFiniteLossError as error:
                raise NonFiniteLossError(f"generation {generation}, stage fit: {error}") from None
            if self.folder.writes:
                with atomic_directory(directory) as temp:
                    generator.save(temp)
            info.update(**pool_composition(pool), final_loss=report.final_loss)
        return generator

    def _measure(self, generation: int, images: ImageSet, pool: ImageSet) -> Judgement:
        """Judge ``images`` (learnt from ``pool``) and write the generation's metrics row, grids and metrics.json."""
        directory = self.folder.generation_dir(generation)
        if generation == 0 and self.folder.writes and not (directory / SAMPLES_FILE).exists():
            atomic_write(directory / SAMPLES_FILE, images.save)  # the real pool, kept like any generation's samples
        judgement = self._judge(generation, images)
        if not self.processes.is_main:
            return judgement
        if generation == 0:
            self.metrics.set_baseline(judgement)
        metrics_path = directory / GENERATION_METRICS_FILE
        if self.folder.stage_done(generation, "metrics"):
            row = json.loads(metrics_path.read_text())
        else:
            with self._stage(generation, "metrics"):
                row = self._metrics_row(generation, images, judgement)
                row.update(pool_composition(pool))  # generation 0: the real pool itself
                row["judged_as_asked"] = judged_as_asked(images.labels.cpu(), judgement.labels.cpu())
                sample_grid(images.images, directory / GRID_FILE, self.config.eval.grid_samples)
                breed_rows(images.images, judgement.labels, self.data.breeds, directory / BREEDS_FILE,
                           self.config.eval.breed_row_samples)
                atomic_write_text(metrics_path, json.dumps(row, indent=2))
        self.rows.append(row)
        self.folder.write_metrics_csv(self.rows)
        self._log_row(row)
        return judgement

    def _judge(self, generation: int, images: ImageSet) -> Judgement:
        path = self.folder.generation_dir(generation) / JUDGEMENT_FILE
        if self.folder.stage_done(generation, "judge"):
            return Judgement(**load_file(str(path)))
        with self._stage(generation, "judge"):
            count = len(images)
            shard = self.processes.shard(count, JUDGING_BATCH)
            part = self.judge.judge(images.images[shard.start:shard.stop])
            judgement = Judgement(**{k: self.processes.gather(v, count, JUDGING_BATCH) for k, v in vars(part).items()})
            if self.folder.writes:
                tensors = {k: v.detach().cpu().contiguous() for k, v in vars(judgement).items()}
                atomic_write(path, lambda temp: save_file(tensors, str(temp)))
        return judgement

    def _metrics_row(self, generation: int, images: ImageSet, judgement: Judgement) -> dict:
        real_shares = None if generation == 0 else self.real_shares
        measured = self.metrics.measure(images.images, judgement)
        row = {"generation": generation, "fid": measured.pop("fid")}
        floors = torch.tensor([self.detection_floors[b] for b in self.data.breeds], dtype=torch.float64)
        breeds = census(judgement.labels, self.data.breeds, detection_floor=floors, real_shares=real_shares)
        row.update(breeds)
        shares = breed_shares(judgement.labels, len(self.data.breeds))
        corrected = corrected_shares(shares, self.judge.label_confusion)
        row.update({f"corrected_share_{b}": float(corrected[i]) for i, b in enumerate(self.data.breeds)})
        row.setdefault("tv_to_real", 0.0)  # generation 0 is the real pool itself
        row["mean_confidence"] = float(judgement.confidence.mean())
        row["samples"] = len(judgement.labels)
        row.update(measured)
        # Extinct since: the generation from which the breed has stayed below its floor up to now (NaN: alive).
        lost = extinctions(self.rows + [row], self.detection_floors)
        row.update({f"extinct_since_{b}": float("nan") if g is None else g for b, g in lost.items()})
        return row

    def _detection_floors(self) -> dict[str, float]:
        """The configured common floor, or each breed's from the judge's false-positive bound."""
        configured = self.config.eval.detection_floor
        if configured is not None:
            return {breed: configured for breed in self.data.breeds}
        return {breed: self.judge.detection_floors[breed] for breed in self.data.breeds}

    def _shares_of(self, row: dict) -> torch.Tensor:
        names = [f"share_{b}" for b in self.data.breeds] + ["share_unrecognized"]
        return torch.tensor([row[n] for n in names], dtype=torch.float64)

    # --- bookkeeping ---------------------------------------------------------------------------

    @contextmanager
    def _stage(self, generation: int, stage: str) -> Iterator[dict]:
        """Time a stage and mark it complete in the manifest once its body has finished.

        On CUDA the manifest also gets the stage's peak GPU memory (``peak_gpu_mib``), the
        figure to watch when choosing batch sizes.
        """
        info: dict = {}
        start = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        with out_of_memory_named(generation, stage, self.device, self.config):
            yield info
        if self.device.type == "cuda":
            info["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20)
        self.folder.mark_stage(generation, stage, time.perf_counter() - start, **info)

    @contextmanager
    def _timed(self, name: str) -> Iterator[dict]:
        info: dict = {}
        start = time.perf_counter()
        yield info
        timings = self.folder.manifest.setdefault("setup", {})
        timings[name] = {"seconds": round(time.perf_counter() - start, 3), **info}
        self.folder.save_manifest()

    def _log_row(self, row: dict) -> None:
        generation = row["generation"]
        stages = self.folder.manifest["generations"].get(str(generation), {}).get("stages", {})
        timing = " ".join(f"{s} {v['seconds']:.1f}s" for s, v in stages.items())
        log.info(f"gen {generation:>3}/{self.config.loop.generations}  FID {row['fid']:7.2f}  "
                 f"alive {row['breeds_alive']}/{len(self.data.breeds)}  unrecognized {row['share_unrecognized']:5.1%}  "
                 f"TV to real {row['tv_to_real']:.3f}  [{timing}]")

