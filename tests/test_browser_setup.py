"""Where the browser tests run: skipped with a clear word when chromium is missing, failed under REQUIRE_BROWSER=1.

Each case runs one browser test in a child pytest pointed at a chromium that is not there.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ONE_BROWSER_TEST = "tests/browser/test_signing_in.py"


def run_without_chromium(tmp_path, **extra_env):
    env = {name: value for name, value in os.environ.items() if name != "REQUIRE_BROWSER"}
    env.update(CHROMIUM=str(tmp_path / "no-chromium-here"), **extra_env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", ONE_BROWSER_TEST, "-p", "no:cacheprovider", f"--output={tmp_path / 'out'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )


def test_without_chromium_the_browser_tests_are_skipped_and_the_run_says_so(tmp_path):
    result = run_without_chromium(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROWSER TESTS SKIPPED" in result.stdout
    assert "chromium is not installed" in result.stdout
    assert "apt-get install chromium" in result.stdout
    assert "1 skipped" in result.stdout


def test_under_require_browser_a_missing_chromium_fails_the_run(tmp_path):
    result = run_without_chromium(tmp_path, REQUIRE_BROWSER="1")

    assert result.returncode != 0
    assert "REQUIRE_BROWSER=1 and the browser tests cannot run: chromium is not installed" in result.stdout
    assert "BROWSER TESTS SKIPPED" not in result.stdout
