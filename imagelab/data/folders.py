"""``data.name=folder``: photos in one folder per breed, as Stanford Dogs, ImageWoof and most collections ship.

Layouts understood under ``data.root``:

- ``<breed>/*.jpg``: any class-per-subfolder collection;
- Stanford Dogs: ``Images/n02085620-Chihuahua/*.jpg`` (``data.root`` may be the folder
  holding ``Images/`` or ``Images/`` itself); the WordNet-id prefix is dropped;
- ImageWoof: ``train/n02086240/*.JPEG`` and ``val/n02086240/*.JPEG``; both are merged
  (the lab cuts its own splits) and the WordNet ids named after their breeds.

Breed names are cleaned to lower-case ASCII words joined by ``_`` (``Shih-Tzu`` ->
``shih_tzu``), so Stanford Dogs and ImageWoof name a breed alike, and breeds are
listed alphabetically unless ``data.breeds`` picks a subset and order.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from imagelab.data.photos import PhotoDataset, require_root
from imagelab.data.splits import DATASETS, breed_order
from imagelab.errors import ConfigError, DataError

# ImageWoof's ten WordNet ids (ImageNet synsets). Some copies of the ImageWoof README swap the two terriers;
# these follow ImageNet and Stanford Dogs (n02093754-Border_terrier, n02096294-Australian_terrier).
IMAGEWOOF_BREEDS = {
    "n02086240": "shih_tzu",
    "n02087394": "rhodesian_ridgeback",
    "n02088364": "beagle",
    "n02089973": "english_foxhound",
    "n02093754": "border_terrier",
    "n02096294": "australian_terrier",
    "n02099601": "golden_retriever",
    "n02105641": "old_english_sheepdog",
    "n02111889": "samoyed",
    "n02115641": "dingo",
}
SPLIT_FOLDERS = ("train", "val")  # ImageWoof / Imagenette: merged into one collection
STANFORD_IMAGES = "Images"
HOW_TO_GET = ("a folder with one subfolder of photos per breed; for Stanford Dogs or ImageWoof run "
              "scripts/download_stanford_dogs.py or scripts/download_imagewoof.py on a connected machine")

_WNID = re.compile(r"^n\d{8}$")
_WNID_PREFIX = re.compile(r"^n\d{8}[-_]")


def breed_name(folder_name: str) -> str:
    """A breed folder's name as a breed: ``n02085620-Chihuahua`` -> ``chihuahua``, ``n02088364`` -> ``beagle``."""
    if _WNID.match(folder_name):
        return IMAGEWOOF_BREEDS.get(folder_name, folder_name)
    name = _WNID_PREFIX.sub("", folder_name)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # vendéen -> vendeen
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def breed_folders(root: Path) -> dict[str, list[Path]]:
    """Breed name -> its folders (two for a train/val layout), alphabetically by breed."""
    base = root / STANFORD_IMAGES if (root / STANFORD_IMAGES).is_dir() else root
    containers = [base / s for s in SPLIT_FOLDERS if (base / s).is_dir()] or [base]
    found: dict[str, list[Path]] = {}
    for container in containers:
        seen: dict[str, Path] = {}
        for folder in sorted(p for p in container.iterdir() if p.is_dir() and not p.name.startswith(".")):
            name = breed_name(folder.name)
            if not name:
                raise DataError(f"{folder}: the folder name gives no breed name (letters or digits needed)")
            if name in seen:
                raise DataError(f"{seen[name]} and {folder} both name the breed '{name}'; merge or rename one")
            seen[name] = folder
            found.setdefault(name, []).append(folder)
    if not found:
        raise DataError(f"data.root: {root} holds no breed folders; expected {HOW_TO_GET}")
    return dict(sorted(found.items()))


def photo_files(folders: list[Path]) -> list[Path]:
    """Every visible file directly inside the breed's folders, sorted (each is expected to be an image)."""
    return sorted(p for folder in folders for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@DATASETS.register("folder")
class FolderDataset(PhotoDataset):
    def __init__(self, config) -> None:
        root = self._checked_root(config)
        files = {breed: photo_files(folders) for breed, folders in breed_folders(root).items()}
        super().__init__(config, root, files)

    @classmethod
    def check_source(cls, config) -> None:
        breeds = breed_folders(cls._checked_root(config))  # lists folders only: cheap even for Stanford Dogs
        breed_order(tuple(breeds), config.breeds)

    @staticmethod
    def _checked_root(config) -> Path:
        if config.download:
            raise ConfigError("data.download", "only data.name=oxford_pets downloads; for Stanford Dogs or ImageWoof "
                                               "run scripts/download_stanford_dogs.py or scripts/download_imagewoof.py")
        return require_root(config, "folder", HOW_TO_GET)
