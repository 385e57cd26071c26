"""Commands timed as a user runs them: where the command lines are, and one command's wall time and peak resident
memory, as the OS measured them."""
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2]   # the repository root: the command lines timed as processes
# runs the command argv[2:] with its output to the file argv[1]; prints its peak resident memory in MiB
PEAK_PROBE = ("import resource, subprocess, sys; status = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'wb'), "
              "stderr=subprocess.STDOUT).returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / "
              "1024); sys.exit(status)")


def timed_process(command: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB, as the OS measured it: through a small interpreter, as a fork
    of this process would count this one's memory) of one command; its output goes to `log`, whose end is raised
    with a failure."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(log), *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {log.read_text()[-2000:]}")
    return seconds, float(result.stdout)
