"""Run every system benchmark (tens of minutes on 2 cores), then render benchmarks/README.md."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = [
    ["bench_enrich.py", "overhead", "--repeats", "30"],
    ["bench_enrich.py", "stability", "--pairs", "100", "--valgrind-pairs", "12"],
    ["bench_enrich.py", "scaling", "--pairs", "24"],
    ["bench_train.py"],
    ["bench_serve.py"],
    ["bench_faults.py"],
    ["bench_evaluate.py"],
]

if __name__ == "__main__":
    for step in STEPS:
        print(f"== {' '.join(step)}", flush=True)
        subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], check=True)
    subprocess.run([sys.executable, str(HERE / "report.py")], check=True)
