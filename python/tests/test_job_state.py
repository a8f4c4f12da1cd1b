# Per-job state and memory of the runner on the tiny model: VAE tiling never leaks into the next job's
# condition encodes, the prompt cache lives in host memory within its byte budget, and decode converts to
# uint8 in bounded chunks with the same result as converting the whole clip.
import numpy as np
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


def test_chunked_uint8_conversion_matches_the_whole_clip_conversion(runner, monkeypatch):
    class FakeVae(torch.nn.Module):
        config = type("C", (), {"timestep_conditioning": False})()
        dtype = torch.float32
        device = torch.device("cpu")

        def disable_tiling(self):
            pass

        def decode(self, lat, timestep, return_dict=False):
            g = torch.Generator().manual_seed(0)
            return (torch.rand((1, 3, 41, 16, 24), generator=g) * 2.4 - 1.2,)

    pipe = type("P", (), {"vae": FakeVae(), "vae_spatial_compression_ratio": 32})()
    got = runner._decode_video(pipe, torch.zeros(1, 8, 6, 1, 1))
    video = pipe.vae.decode(None, None)[0][0].float().clamp(-1, 1).permute(1, 2, 3, 0)
    want = ((video + 1.0) * 127.5).round().to(torch.uint8).numpy()
    assert got.shape == want.shape and np.array_equal(got, want)
