"""The few lines printed at the end of a run: who survived, how FID moved, where the results are."""

from __future__ import annotations

from pathlib import Path

from imagelab.metrics.extinction import extinctions


def summarize(rows: list[dict], floors: dict[str, float], root: Path, seconds: float) -> str:
    """``floors``: each breed's detection floor, in the dataset's breed order."""
    first, last = rows[0], rows[-1]
    lines = [f"Finished generation {last['generation']} in {seconds:.0f}s."]
    lost = extinctions(rows, floors)
    survivors = [b for b, generation in lost.items() if generation is None]
    lines.append(f"Breeds alive at generation {last['generation']}: {len(survivors)}/{len(floors)} "
                 f"(a breed is extinct once its share stays below its detection floor: "
                 f"{min(floors.values()):.2%}-{max(floors.values()):.2%} of samples, the judge's error bound)")
    for breed, floor in floors.items():
        start, end = first[f"share_{breed}"], last[f"share_{breed}"]
        fate = f"lost at generation {lost[breed]}" if lost[breed] is not None else "alive"
        lines.append(f"  {breed:<30} {start:6.1%} -> {end:6.1%}  (floor {floor:.2%})  {fate}")
    lines.append(f"  {'unrecognized':<30} {first['share_unrecognized']:6.1%} -> {last['share_unrecognized']:6.1%}")
    fids = " -> ".join(f"{row['fid']:.1f}" for row in rows)
    lines.append(f"FID per generation (generation 0 = real vs real floor): {fids}")
    lines.append(f"Run folder: {root}  (metrics.csv, gen_*/grid.png, gen_*/breeds.png)")
    return "\n".join(lines)
