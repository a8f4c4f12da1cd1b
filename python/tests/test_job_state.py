# Per-job state and memory of the runner on the tiny model: VAE tiling never leaks into the next job's
# condition encodes and the prompt cache lives in host memory within its byte budget. The streamed decode
# has its own tests (test_streaming_decode.py).
import pytest
import torch

from ltx_worker import runner as R


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return R.LtxRunner(R.WorkerOptions(model_dir=str(tiny_model_dir), device="cpu", max_sequence_length=256), log=lambda *_: None)


def test_reset_state_switches_vae_tiling_off_whatever_the_previous_job_left(runner):
    vae = runner.pipe.vae
    vae.enable_tiling()
    vae.use_framewise_decoding = True
    runner.reset_state()
    assert vae.use_tiling is False and vae.use_framewise_decoding is False and vae.use_framewise_encoding is False


def test_prompt_cache_entries_sit_in_host_memory_within_the_byte_budget(runner, monkeypatch):
    runner._prompt_cache.clear()
    (emb, _), hit = runner._prompt_embeds(runner.pipe, "a red car")
    assert not hit
    entry = runner._prompt_cache["a red car"]
    assert entry[0].device.type == "cpu"
    one = runner._prompt_cache_bytes()
    monkeypatch.setattr(R, "PROMPT_CACHE_BYTES", 2 * one)
    for text in ("b", "c", "d"):
        runner._prompt_embeds(runner.pipe, text)
    assert runner._prompt_cache_bytes() <= 2 * one and len(runner._prompt_cache) == 2
    (emb2, _), hit = runner._prompt_embeds(runner.pipe, "d")
    assert hit and emb2.device.type == "cpu"
    runner._prompt_cache.clear()
