"""How much ``pip install anubis-bench`` puts on a laptop, with and without the extras.

    python bench/install_size.py [--wheel dist/anubis_bench-0.1.0-py3-none-any.whl]

Builds the wheel from this checkout (unless given one), then installs it into fresh virtual
environments, one per line below, and prints for each the size of its site-packages folder and the
number of distributions in it. The reference line is ``[cluster,github]``: the dependencies every
install pulled before the cluster and GitHub clients became extras. The size of a bare venv (pip
alone) is subtracted from each, so the figures are what Anubis adds. Everything goes to a temporary
folder; nothing is left behind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
VARIANTS = [("anubis-bench", ""), ("anubis-bench[cluster]", "[cluster]"),
            ("anubis-bench[cluster,github] (reference: the old base install)", "[cluster,github]")]


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def site_packages(venv: Path) -> Path:
    [found] = venv.glob("lib/python*/site-packages")
    return found


def distributions(venv: Path) -> int:
    return len(list(site_packages(venv).glob("*.dist-info")))


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(CHECKOUT)], check=True,
                   capture_output=True)
    [wheel] = out.glob("anubis_bench-*.whl")
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anubis-size-") as tmp:
        root = Path(tmp)
        wheel = args.wheel or build_wheel(root / "dist")
        bare = root / "bare"
        subprocess.run([sys.executable, "-m", "venv", str(bare)], check=True)
        empty_size, empty_count = size_of(site_packages(bare)), distributions(bare)
        print(f"{'install':<62} {'MB':>7} {'packages':>9}")
        for label, extras in VARIANTS:
            venv = root / f"v{len(extras)}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                            f"{wheel}{extras}"], check=True)
            added = size_of(site_packages(venv)) - empty_size
            count = distributions(venv) - empty_count
            print(f"{label:<62} {added / 1e6:>7.1f} {count:>9}")


if __name__ == "__main__":
    main()
