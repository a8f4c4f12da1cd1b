# Shared fixtures of the worker tests: one tiny random model per session, written by the same code as
# `npm run ltx:tiny-model -- DIR` (the layout `ltx-serve models download` produces).
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from ltx_worker.tiny_model import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-ltx"))
