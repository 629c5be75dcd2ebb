"""Property-based fuzzing of every endpoint from the OpenAPI document (schemathesis), against a live
server: whatever arrives, no 5xx, and every JSON answer is a valid envelope (check in fuzz_hooks.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import BIN, create_key


def test_no_input_breaks_an_endpoint(fresh_server):
    server = fresh_server("--no-workers")
    key = create_key(server.data, "fuzzer")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": str(Path(__file__).parent)}
    run = subprocess.run(
        [str(BIN / "st"), "run", server.base + "/openapi.json", "-H", f"Authorization: {key}",
         "--checks", "not_a_server_error,valid_envelope", "--phases", "examples,coverage,fuzzing",
         "--max-examples", "40", "--seed", "1", "--no-color"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert " passed" in run.stdout and "generated" in run.stdout
