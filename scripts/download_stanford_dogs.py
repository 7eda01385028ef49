"""Download and unpack Stanford Dogs (120 breeds, 20,580 photos, an archive of about 750 MB) on a connected machine.

    python scripts/download_stanford_dogs.py --out data/stanford-dogs
    imagelab run configs/stanford-dogs-ddpm.yaml data.root=data/stanford-dogs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imagelab.data.download import STANFORD_DOGS, download_command

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/stanford-dogs"), help="folder to unpack into")
    parser.add_argument("--keep-archive", action="store_true", help="keep images.tar after unpacking")
    args = parser.parse_args()
    sys.exit(download_command(STANFORD_DOGS, args.out, args.keep_archive))
