"""The toy dog breeds: each breed's traits as data (one row per breed), in the dataset's order.

The first breed is the most common under the default long tail, the last the rarest.
Colours are RGB in [0, 1]; lengths are in dog units (see toydogs.py, which draws them).
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[float, float, float]

# Named colours, linear-ish RGB in [0, 1].
GOLD, LIGHT_GOLD, DARK_GOLD = (0.86, 0.63, 0.30), (0.95, 0.80, 0.52), (0.72, 0.48, 0.20)
BLACK, WHITE, CREAM = (0.10, 0.09, 0.09), (0.95, 0.94, 0.91), (0.93, 0.90, 0.80)
TAN, DARK_TAN = (0.76, 0.50, 0.24), (0.56, 0.33, 0.14)
GREY, DARK_GREY = (0.45, 0.47, 0.51), (0.24, 0.25, 0.28)
RED_BROWN, DARK_RED_BROWN = (0.52, 0.23, 0.10), (0.36, 0.15, 0.07)
CORGI_RED, LEMON = (0.88, 0.52, 0.20), (0.90, 0.76, 0.38)
DARK = (0.05, 0.04, 0.04)  # eyes and nose


@dataclass(frozen=True)
class Ear:
    """An ear as a tapered capsule, in head radii, relative to the head centre (dog faces +u, v points down)."""

    attach: tuple[float, float]
    direction: tuple[float, float]
    length: float
    base_width: float
    tip_width: float


@dataclass(frozen=True)
class Tail:
    """A tail as two tapered capsules from the rump, in dog units; the second one is drawn in the tip colour."""

    direction: tuple[float, float]
    length: float
    base_width: float
    mid_width: float
    tip_direction: tuple[float, float]
    tip_length: float
    tip_width: float


EARS = {
    "floppy": Ear(attach=(-0.25, -0.55), direction=(-0.25, 1.0), length=1.1, base_width=0.36, tip_width=0.42),
    "erect": Ear(attach=(-0.15, -0.55), direction=(-0.3, -1.0), length=1.15, base_width=0.40, tip_width=0.03),
    "long": Ear(attach=(-0.15, -0.45), direction=(-0.05, 1.0), length=2.0, base_width=0.30, tip_width=0.40),
}
TAILS = {  # each a distinct outline at 32 px: plume, rod, hanging brush, upright flag, curl, none, thin whip
    # Tail(direction, length, base_width, mid_width, tip_direction, tip_length, tip_width)
    "feathered": Tail((-1.0, 0.55), 0.22, 0.05, 0.075, (-0.7, 1.0), 0.17, 0.035),
    "otter": Tail((-1.0, 0.40), 0.30, 0.065, 0.035, (-1.0, 0.6), 0.05, 0.02),
    "sabre": Tail((-0.55, 1.0), 0.26, 0.05, 0.07, (-0.15, 1.0), 0.15, 0.035),
    "flag": Tail((-0.45, -1.0), 0.24, 0.04, 0.035, (-0.3, -1.0), 0.08, 0.03),
    "curled": Tail((-0.35, -1.0), 0.20, 0.06, 0.075, (1.0, -0.2), 0.20, 0.035),
    "stub": Tail((-1.0, -0.2), 0.02, 0.04, 0.035, (-1.0, 0.0), 0.0, 0.03),
    "whip": Tail((-1.0, 0.55), 0.30, 0.035, 0.022, (-1.0, -0.35), 0.14, 0.012),
}


@dataclass(frozen=True)
class Coat:
    """Colours per body region; a region left as None takes the base colour."""

    base: RGB
    saddle: RGB | None = None  # patch over the back, drawn where saddle_size > 0
    belly: RGB | None = None  # chest and underside
    legs: RGB | None = None
    head: RGB | None = None
    face: RGB | None = None  # lower front of the head (mask); None takes the head colour
    muzzle: RGB | None = None
    ears: RGB | None = None
    tail: RGB | None = None
    tail_tip: RGB | None = None
    spots: RGB | None = None
    saddle_size: float = 0.0  # 0 = none, 1 = covers the upper half of the torso
    spot_count: int = 0  # at most _SPOTS_MAX
    spot_radius: float = 0.0  # dog units; 0.08 is about 2.5 px across at 32 px
    wiry: float = 0.0  # amplitude of the rough-coat texture


COAT_REGIONS = ("base", "saddle", "belly", "legs", "head", "face", "muzzle", "ears", "tail", "tail_tip", "spots")


@dataclass(frozen=True)
class BreedTraits:
    """A breed's silhouette in dog units (torso centre at the origin, facing +u, v down) and its coat.

    Absolute size does not matter: every dog is rescaled to fill 60-80% of the frame width, so the
    proportions (leg length against body length, head height, ear and tail outline) carry the breed.
    """

    body_length: float  # half-length of the torso
    body_height: float  # half-height of the torso
    leg_length: float  # torso centre line to the ground
    leg_width: float  # leg radius
    head: tuple[float, float]  # head centre
    head_radius: float
    snout_length: float  # how far the snout reaches past the head centre
    snout_width: float  # snout radius at its base
    snout_drop: float  # downward slope of the snout
    ears: str  # key of EARS
    tail: str  # key of TAILS
    coat: Coat
    ear_scale: float = 1.0
    tail_scale: float = 1.0
    rump_drop: float = 0.0  # how much lower the hindquarters sit (the shepherd's sloping back)


# fmt: off
TRAITS: dict[str, BreedTraits] = {
    "golden_retriever": BreedTraits(
        body_length=0.40, body_height=0.21, leg_length=0.36, leg_width=0.070, head=(0.50, -0.30), head_radius=0.165,
        snout_length=0.25, snout_width=0.075, snout_drop=0.15, ears="floppy", tail="feathered",
        coat=Coat(GOLD, belly=LIGHT_GOLD, muzzle=LIGHT_GOLD, ears=DARK_GOLD, tail=LIGHT_GOLD, tail_tip=LIGHT_GOLD)),
    "labrador_retriever": BreedTraits(
        body_length=0.40, body_height=0.22, leg_length=0.36, leg_width=0.075, head=(0.50, -0.28), head_radius=0.17,
        snout_length=0.25, snout_width=0.085, snout_drop=0.12, ears="floppy", ear_scale=0.8, tail="otter",
        coat=Coat(BLACK)),
    "german_shepherd": BreedTraits(
        body_length=0.44, body_height=0.20, leg_length=0.40, leg_width=0.065, head=(0.55, -0.34), head_radius=0.15,
        snout_length=0.28, snout_width=0.070, snout_drop=0.10, ears="erect", ear_scale=1.2, tail="sabre",
        tail_scale=1.1, rump_drop=0.06,
        coat=Coat(TAN, saddle=BLACK, face=BLACK, muzzle=BLACK, ears=BLACK, tail=BLACK, tail_tip=BLACK,
                  saddle_size=1.0)),
    "beagle": BreedTraits(
        body_length=0.36, body_height=0.20, leg_length=0.30, leg_width=0.070, head=(0.46, -0.27), head_radius=0.16,
        snout_length=0.23, snout_width=0.080, snout_drop=0.15, ears="floppy", ear_scale=1.15, tail="flag",
        coat=Coat(TAN, saddle=BLACK, belly=WHITE, legs=WHITE, muzzle=WHITE, ears=DARK_TAN, tail=BLACK,
                  tail_tip=WHITE, saddle_size=0.9)),
    "siberian_husky": BreedTraits(
        body_length=0.40, body_height=0.20, leg_length=0.38, leg_width=0.068, head=(0.50, -0.30), head_radius=0.155,
        snout_length=0.24, snout_width=0.072, snout_drop=0.12, ears="erect", ear_scale=1.05, tail="curled",
        coat=Coat(GREY, saddle=DARK_GREY, belly=WHITE, legs=WHITE, face=WHITE, muzzle=WHITE, saddle_size=1.0)),
    "dachshund": BreedTraits(
        body_length=0.50, body_height=0.15, leg_length=0.15, leg_width=0.055, head=(0.62, -0.19), head_radius=0.14,
        snout_length=0.28, snout_width=0.060, snout_drop=0.12, ears="floppy", ear_scale=1.1, tail="whip",
        tail_scale=0.9, coat=Coat(RED_BROWN, ears=DARK_RED_BROWN)),
    "dalmatian": BreedTraits(
        body_length=0.40, body_height=0.19, leg_length=0.42, leg_width=0.058, head=(0.50, -0.33), head_radius=0.15,
        snout_length=0.25, snout_width=0.068, snout_drop=0.12, ears="floppy", ear_scale=0.9, tail="whip",
        # Six large patches rather than many 2-px dots: a small generator keeps a few bold patches, but averages
        # many random dots into grey, and a grey dalmatian is no longer a dalmatian to the judge.
        coat=Coat(WHITE, ears=BLACK, spots=BLACK, spot_count=6, spot_radius=0.12)),
    "pembroke_welsh_corgi": BreedTraits(
        body_length=0.46, body_height=0.20, leg_length=0.15, leg_width=0.075, head=(0.56, -0.22), head_radius=0.165,
        snout_length=0.22, snout_width=0.070, snout_drop=0.10, ears="erect", ear_scale=1.35, tail="stub",
        coat=Coat(CORGI_RED, belly=WHITE, legs=WHITE, muzzle=WHITE)),
    "basset_hound": BreedTraits(
        body_length=0.52, body_height=0.21, leg_length=0.14, leg_width=0.085, head=(0.63, -0.20), head_radius=0.16,
        snout_length=0.26, snout_width=0.095, snout_drop=0.30, ears="long", tail="flag",
        coat=Coat(TAN, saddle=BLACK, belly=WHITE, legs=WHITE, head=DARK_TAN, muzzle=WHITE, ears=DARK_TAN,
                  tail=BLACK, tail_tip=WHITE, saddle_size=0.6)),
    "petit_basset_griffon_vendeen": BreedTraits(
        body_length=0.45, body_height=0.21, leg_length=0.20, leg_width=0.078, head=(0.57, -0.27), head_radius=0.17,
        snout_length=0.21, snout_width=0.110, snout_drop=0.05, ears="long", ear_scale=0.75, tail="flag",
        tail_scale=1.15,
        coat=Coat(CREAM, head=LEMON, face=CREAM, ears=LEMON, spots=LEMON, spot_count=4, spot_radius=0.14, wiry=0.2)),
}
# fmt: on
BREEDS: tuple[str, ...] = tuple(TRAITS)
