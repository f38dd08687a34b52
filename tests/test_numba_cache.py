import os
import shutil

from engine import _numba_cache_dir


def test_numba_cache_directory_changes_with_any_engine_source(tmp_path):
    src = tmp_path / "engine"
    shutil.copytree(os.path.dirname(_numba_cache_dir.__code__.co_filename), src, ignore=shutil.ignore_patterns("__pycache__"))
    before = _numba_cache_dir(src)
    assert before == _numba_cache_dir(src) and before.startswith(str(tmp_path / ".numba-cache"))
    arrangement = src / "arrangement.py"
    arrangement.write_text(arrangement.read_text() + "\n# a constant another module inlines could change here\n")
    after = _numba_cache_dir(src)
    assert after != before and os.path.isdir(after)

