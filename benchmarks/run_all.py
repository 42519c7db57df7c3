"""Run the system benchmarks that `make bench` runs, then render benchmarks/README.md.

About 20-30 minutes on 2 cores (an estimate from the wall times the committed results record:
label stability ~9 min, scaling ~4, training ~3, fault tolerance ~3, serving ~2-3, evaluation ~2,
sandbox overhead ~10 s). Each step writes its result into benchmarks/results/, replacing the
committed one. Not run here (run them on their own): `bench_scale.py` (a 2.4 GB input, the
enrichment pipeline at a million pairs) and `bench_measure.py` (hours; its sections one by one),
and `bash benchmarks/gpu/run.sh` (a GPU machine).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = {
    "overhead": ["bench_enrich.py", "overhead", "--repeats", "30"],
    "stability": ["bench_enrich.py", "stability", "--pairs", "100", "--valgrind-pairs", "12"],
    "scaling": ["bench_enrich.py", "scaling", "--pairs", "24"],
    "train": ["bench_train.py", "--repeats", "3"],
    "serve": ["bench_serve.py"],
    "faults": ["bench_faults.py"],
    "evaluate": ["bench_evaluate.py"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=list(STEPS), default=list(STEPS), help="a subset of the steps")
    ap.add_argument("--list", action="store_true", help="print the commands and exit, running nothing")
    args = ap.parse_args(argv)
    chosen = [STEPS[k] for k in args.only]
    if args.list:
        for step in chosen:
            print(f"python benchmarks/{' '.join(step)}")
        print("python benchmarks/report.py")
        return 0
    for step in chosen:
        print(f"== {' '.join(step)}", flush=True)
        subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], check=True)
    subprocess.run([sys.executable, str(HERE / "report.py")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
