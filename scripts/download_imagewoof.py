"""Download and unpack ImageWoof (10 dog breeds, 12,954 photos, 320 px on the shorter side) on a connected machine.

    python scripts/download_imagewoof.py --out data
    imagelab run imagewoof-vae data.root=data/imagewoof2-320
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imagelab.data.download import IMAGEWOOF, download_command

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"),
                        help="folder to unpack into (imagewoof2-320/ appears in it)")
    parser.add_argument("--keep-archive", action="store_true", help="keep imagewoof2-320.tgz after unpacking")
    args = parser.parse_args()
    sys.exit(download_command(IMAGEWOOF, args.out, args.keep_archive))
