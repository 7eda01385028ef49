"""``data.name=oxford_pets``: the dog breeds of the Oxford-IIIT Pet dataset, through torchvision.

torchvision's ``OxfordIIITPet`` knows the layout (``<data.root>/oxford-iiit-pet/``
with ``images/*.jpg`` and ``annotations/trainval.txt`` and ``test.txt``) and
downloads it when ``data.download`` is true. Both of its splits are merged (the lab
cuts its own) and its 12 cat breeds are dropped, leaving 25 dog breeds of about 200
photos each, named as in the file names (``american_pit_bull_terrier``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

from imagelab.data.photos import PhotoDataset
from imagelab.data.splits import DATASETS, breed_order
from imagelab.errors import ConfigError, DataError

DOG_BREEDS = (
    "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "boxer", "chihuahua",
    "english_cocker_spaniel", "english_setter", "german_shorthaired", "great_pyrenees", "havanese", "japanese_chin",
    "keeshond", "leonberger", "miniature_pinscher", "newfoundland", "pomeranian", "pug", "saint_bernard", "samoyed",
    "scottish_terrier", "shiba_inu", "staffordshire_bull_terrier", "wheaten_terrier", "yorkshire_terrier",
)
FOLDER = "oxford-iiit-pet"  # torchvision's folder under its root
BY_HAND = (f"unpack images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
           f"into <data.root>/{FOLDER}/")
HOW_TO_GET = f"set data.download=true once on a connected machine, or {BY_HAND}"


@DATASETS.register("oxford_pets")
class OxfordPets(PhotoDataset):
    def __init__(self, config) -> None:
        root = _root(config)
        if config.download:
            root.mkdir(parents=True, exist_ok=True)
        files: dict[str, list[Path]] = {breed: [] for breed in DOG_BREEDS}
        for image in _image_paths(root, config.download):
            breed = image.stem.rsplit("_", 1)[0]  # american_bulldog_12 -> american_bulldog; cats are capitalised
            if breed in files:
                files[breed].append(image)
        super().__init__(config, root / FOLDER, {breed: sorted(paths) for breed, paths in files.items()})


    @classmethod
    def check_source(cls, config) -> None:
        breed_order(DOG_BREEDS, config.breeds)
        root = _root(config)
        if not config.download and not all((root / FOLDER / part).is_dir() for part in ("images", "annotations")):
            raise DataError(f"data.root: no Oxford-IIIT Pet copy in {root / FOLDER} (images/ and annotations/ "
                            f"expected); {HOW_TO_GET}")


def _root(config) -> Path:
    """The folder that holds (or will hold) oxford-iiit-pet/, from ``data.root``."""
    if config.root is None:
        raise ConfigError("data.root", "data.name=oxford_pets needs data.root, the folder that holds "
                                       f"(or will hold) {FOLDER}/; {HOW_TO_GET}")
    root = Path(config.root).expanduser()
    if root.name == FOLDER and (root / "images").is_dir():
        root = root.parent  # pointed at the dataset folder itself rather than at its parent
    return root


def _image_paths(root: Path, download: bool) -> list[Path]:
    """Every image listed in torchvision's two splits."""
    from torchvision.datasets import OxfordIIITPet

    paths: list[Path] = []
    for split in ("trainval", "test"):
        try:
            dataset = OxfordIIITPet(str(root), split=split, download=download and split == "trainval")
        except RuntimeError:
            raise DataError(f"data.root: no Oxford-IIIT Pet copy in {root / FOLDER} (images/ and annotations/ "
                            f"expected); {HOW_TO_GET}") from None
        except URLError as error:
            raise DataError(f"data.download: could not download Oxford-IIIT Pet ({error.reason}); on a machine "
                            f"without network, {BY_HAND}") from None
        except (OSError, ValueError) as error:
            raise DataError(f"data.root: the Oxford-IIIT Pet copy in {root / FOLDER} is incomplete or damaged "
                            f"({error}); {HOW_TO_GET}") from None
        # The file list of a split: torchvision keeps it (from annotations/<split>.txt) in ``_images``.
        paths += list(dataset._images)
    return paths
