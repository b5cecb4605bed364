"""The simulator writes the same bytes on every machine of the project's kind (issue 16).

Another CPU is emulated in a subprocess: numpy imported with its SIMD dispatch targets above
the baseline switched off (`NPY_DISABLE_CPU_FEATURES`, what numpy would find on a CPU without
AVX512 or AVX2), OpenBLAS forced to an older kernel on one thread, Arrow held to AVX2. numpy
is imported before churnlab there, so the pins of `churnlab/__init__.py` cannot help: what is
tested is that the simulator itself depends on no CPU-dispatched kernel.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import churnlab.simulate
from churnlab.simulate import libm
from churnlab.simulate.observe import FEATURE_SKEW, feature_rank

HERE = Path(__file__).resolve().parent
SIMULATE_SRC = Path(churnlab.simulate.__file__).resolve().parent
PIN_VARIABLES = (
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "ARROW_USER_SIMD_LEVEL",
)


DISPATCH_STATE = """
import json
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
print(json.dumps({name: bool(__cpu_features__.get(name)) for name in __cpu_dispatch__}))
"""


@pytest.fixture(scope="module")
def machines() -> dict[str, dict[str, str]]:
    """Environment of this machine (native kernels) and of an emulated older one: numpy's
    dispatch targets that this CPU has (read without churnlab's pins) switched off."""
    native = json.loads(_run(DISPATCH_STATE, {}))
    targets = [name for name, found in native.items() if found]
    if not targets:
        pytest.skip("this CPU has no numpy SIMD target above the baseline to switch off")
    return {
        "native": {},
        "older_cpu": {
            "NPY_DISABLE_CPU_FEATURES": " ".join(targets),
            "OPENBLAS_CORETYPE": "Sandybridge",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "ARROW_USER_SIMD_LEVEL": "NONE",
        },
    }


def _run(code: str, machine: dict[str, str], *args: str) -> str:
    """Run `code` in a fresh interpreter that imports numpy first under `machine`'s variables."""
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    env.update(machine)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", "import numpy\n" + code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_emulated_cpu_really_runs_other_numpy_kernels(machines):
    native = json.loads(_run(DISPATCH_STATE, machines["native"]))
    older = json.loads(_run(DISPATCH_STATE, machines["older_cpu"]))
    assert any(native.values()) and not any(older.values()), (native, older)


# numpy's own exp/log/power on 200,000 values, then the simulator's libm versions: digests.
DIGESTS = """
import hashlib, json
import numpy as np
from churnlab.simulate import libm

x = np.random.default_rng(0).uniform(-30, 30, 200_000)
p = np.abs(x) + 1e-3
u = np.random.default_rng(1).random(200_000)
runs = {
    "numpy": [np.exp(x), np.log(p), np.log1p(p), np.power(u, 1.6)],
    "libm": [libm.exp(x), libm.log(p), libm.log1p(p), libm.power(u, 1.6)],
}
print(json.dumps({k: [hashlib.sha256(a.tobytes()).hexdigest() for a in v] for k, v in runs.items()}))
"""


def test_libm_gives_the_same_bits_where_numpy_does_not(machines):
    native = json.loads(_run(DIGESTS, machines["native"]))
    older = json.loads(_run(DIGESTS, machines["older_cpu"]))
    assert native["libm"] == older["libm"]
    if native["numpy"] == older["numpy"]:  # e.g. a CPU whose only SIMD kernels agree
        pytest.skip("numpy's kernels agree on this CPU: nothing to contrast libm with")


def test_libm_is_the_math_module_elementwise_and_within_an_ulp_of_numpy():
    x = np.array([-2.5, 0.0, 1e-12, 0.5, 3.0, 700.0])
    assert libm.exp(x).tolist() == [math.exp(v) for v in x]
    assert libm.log(x[2:]).tolist() == [math.log(v) for v in x[2:]]
    assert libm.log1p(-x[1:4]).tolist() == [math.log1p(-v) for v in x[1:4]]
    assert libm.power(x[2:], 1.6).tolist() == [math.pow(v, 1.6) for v in x[2:]]
    assert libm.exp(np.zeros((2, 3))).shape == (2, 3)
    u = np.random.default_rng(3).random(10_000)
    np.testing.assert_allclose(libm.power(u, 1.6), np.power(u, 1.6), rtol=3e-16, atol=0)
    np.testing.assert_allclose(libm.exp(-u), np.exp(-u), rtol=3e-16, atol=0)
    with pytest.raises(ValueError):
        libm.log(np.array([1.0, 0.0]))  # never a silent -inf


def test_feature_rank_is_floor_of_breadth_times_u_to_the_skew():
    # breadth 4: cuts (1/4, 2/4, 3/4) ** (1 / 1.6) = 0.4204, 0.6484, 0.8355
    breadth = np.array([4, 4, 4, 4, 4, 1, 10])
    u = np.array([0.0, 0.42, 0.5, 0.84, 0.99, 0.99, 0.999])
    assert feature_rank(breadth, u).tolist() == [0, 0, 1, 3, 3, 0, 9]
    rng = np.random.default_rng(0)
    b, v = rng.integers(1, 11, 100_000), rng.random(100_000)
    assert (feature_rank(b, v) == np.floor(b * v**FEATURE_SKEW)).all()


SIMULATE = """
import hashlib, json, sys
from pathlib import Path
from simulate_test_world import make_spec
from churnlab.simulate.stage import simulate_company

out = Path(sys.argv[1])
simulate_company(make_spec(n_accounts=300, events_partition_accounts=250), out)
print(json.dumps({
    str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted(out.rglob("*")) if p.is_file()
}))
"""


def test_the_small_company_is_byte_identical_on_an_older_cpu(machines, tmp_path):
    native = json.loads(_run(SIMULATE, machines["native"], str(tmp_path / "native")))
    older = json.loads(_run(SIMULATE, machines["older_cpu"], str(tmp_path / "older")))
    assert len(native) >= 10  # every table, two events parts, ground_truth.json
    assert native == older


# Functions numpy computes with CPU-dispatched kernels that round differently per CPU. Exactly
# rounded operations (+ - * / sqrt floor ceil rint round clip abs minimum maximum) are safe.
DISPATCHED = {
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "power",
    "float_power",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "arctan2",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "cbrt",
    "logaddexp",
    "logaddexp2",
    "hypot",
}


def test_the_simulator_calls_no_cpu_dispatched_transcendental():
    found = []
    for path in sorted(SIMULATE_SRC.glob("*.py")):
        if path.name == "libm.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in DISPATCHED
                and isinstance(node.value, ast.Name)
                and node.value.id in ("np", "numpy")
            ):
                found.append(f"{path.name}:{node.lineno} np.{node.attr}")
            is_pow = isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Pow)
            if is_pow:
                operands = [node.left, node.right] if isinstance(node, ast.BinOp) else []
                if not all(isinstance(o, ast.Constant) for o in operands) or not operands:
                    found.append(f"{path.name}:{node.lineno} ** (numpy's power on arrays)")
    assert not found, "use churnlab.simulate.libm instead: " + ", ".join(found)
