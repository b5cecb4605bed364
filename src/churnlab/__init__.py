"""churnlab: test which customer-success hypotheses actually lead churn."""

import os as _os
import platform as _platform

__version__ = "0.1.0"

# Same inputs give the same bytes on every machine of the project's kind (x86-64 with AVX2 and
# FMA), not only on the one that wrote dvc.lock (issue 16). numpy, OpenBLAS and Arrow pick
# CPU-specific kernels when they load, and these differ in the last bit or in order: numpy's
# AVX512 exp/log/pow and its AVX512 sorts (order of ties) differ from its AVX2 ones, OpenBLAS's
# SkylakeX and Haswell kernels (and different thread counts) add in a different order, Arrow's
# AVX512 and AVX2 kernels likewise. Each variable below pins that choice to what every such
# machine has. They act only when the library loads, so they are set on `import churnlab`,
# which every stage command runs before numpy, scipy or pyarrow load (the report notebooks'
# kernels inherit them). A value already set in the environment wins; scripts/check_repro.py
# shows whether they are in force.
NUMERIC_ENVIRONMENT = {
    # numpy >= 2.4 names of its AVX512 dispatch targets (`numpy.show_runtime()` lists them)
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
    "ARROW_USER_SIMD_LEVEL": "AVX2",
}


def _has_avx2_fma() -> bool:
    """Whether this CPU can run the pinned kernels (OpenBLAS's Haswell ones need AVX2 + FMA:
    forcing them on an older CPU would stop the process with an illegal instruction)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx2", "fma"} <= flags
    except OSError:
        pass
    return False


if _platform.machine().lower() in ("x86_64", "amd64") and _has_avx2_fma():
    for _name, _value in NUMERIC_ENVIRONMENT.items():
        _os.environ.setdefault(_name, _value)
