"""The few lines printed at the end of a run: the breeds still detectable, how FID moved, where the results are."""

from __future__ import annotations

from pathlib import Path

from imagelab.metrics.extinction import extinctions


def summarize(rows: list[dict], floors: dict[str, float], root: Path, seconds: float) -> str:
    """``floors``: each breed's detection floor, in the dataset's breed order (for rows without a verdict)."""
    first, last = rows[0], rows[-1]
    lines = [f"Finished generation {last['generation']} in {seconds:.0f}s."]
    lost = extinctions(rows, floors)
    survivors = [b for b, generation in lost.items() if generation is None]
    lines.append(f"Breeds detectable at generation {last['generation']}: {len(survivors)}/{len(floors)} "
                 f"(undetectable: a judged count the judge's errors alone could give; docs/metrics.md)")
    for breed, floor in floors.items():
        start, end = first[f"share_{breed}"], last[f"share_{breed}"]
        fate = f"undetectable from generation {lost[breed]}" if lost[breed] is not None else "detectable"
        limit = last.get(f"error_limit_{breed}")
        bound = f"errors alone <= {limit:.0f}" if limit is not None else f"floor {floor:.2%}"
        lines.append(f"  {breed:<30} {start:6.1%} -> {end:6.1%}  ({bound})  {fate}")
    lines.append(f"  {'unrecognized':<30} {first['share_unrecognized']:6.1%} -> {last['share_unrecognized']:6.1%}")
    fids = " -> ".join(f"{row['fid']:.1f}" for row in rows)
    lines.append(f"FID per generation (generation 0 = real vs real floor): {fids}")
    lines.append(f"Run folder: {root}  (metrics.csv, gen_*/grid.png, gen_*/breeds.png)")
    return "\n".join(lines)
