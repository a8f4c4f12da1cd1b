# Tests of the weights manifest, the resume logic and the download layout of ltx_worker.models. No hub is
# reachable here, so only huggingface_hub's network calls (HfApi.model_info, snapshot_download,
# hf_hub_download) are replaced; the tests assert exactly which repositories and files are requested.
import json
from types import SimpleNamespace

import huggingface_hub
import pytest

from ltx_worker import models as M

REMOTE = {
    "diffusers/LTX-2.3-Diffusers": {
        "model_index.json": 700, "transformer/config.json": 900, "transformer/diffusion_pytorch_model-00001-of-00002.safetensors": 5000,
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors": 4000, "vae/config.json": 300,
        "vae/diffusion_pytorch_model.safetensors": 2000, "text_encoder/model.safetensors": 3000, ".gitattributes": 10, "README.md": 50,
    },
    "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers": {
        "model_index.json": 200, "latent_upsampler/config.json": 250, "latent_upsampler/diffusion_pytorch_model.safetensors": 1500,
        "vae/config.json": 300, "vae/diffusion_pytorch_model.safetensors": 2000, "README.md": 40,
    },
    "Lightricks/LTX-2.3": {
        "ltx-2.3-22b-distilled-lora-384-1.1.safetensors": 1700, "ltx-2.3-22b-distilled-lora-384.safetensors": 1700,
        "ltx-2.3-22b-dev.safetensors": 9999, "ltx-2.3-spatial-upscaler-x2-1.1.safetensors": 900,
    },
    "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers": {
        "model_index.json": 700, "transformer/config.json": 900, "transformer/diffusion_pytorch_model.safetensors": 6000,
        "vae/diffusion_pytorch_model.safetensors": 2000,
    },
}


class FakeHub:
    """Stands in for the Hub's network: records each request and writes files of the remote sizes."""

    def __init__(self, monkeypatch, fail_after=None):
        self.calls = []
        self.fail_after = fail_after
        outer = self

        class Api:
            def model_info(self, repo_id, files_metadata=False, **kw):
                outer.calls.append(("model_info", repo_id, files_metadata))
                return SimpleNamespace(sha="c0ffee" + repo_id[:3], siblings=[SimpleNamespace(rfilename=k, size=v) for k, v in REMOTE[repo_id].items()])

        self.api = Api()

        def snapshot_download(repo_id, *, revision=None, local_dir=None, allow_patterns=None, **kw):
            outer.calls.append(("snapshot_download", repo_id, sorted(allow_patterns), revision, str(local_dir)))
            for i, name in enumerate(sorted(allow_patterns)):
                if outer.fail_after is not None and i >= outer.fail_after:
                    raise OSError("connection reset")
                p = huggingface_hub_path(local_dir, name)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b"x" * REMOTE[repo_id][name])
            return local_dir

        def hf_hub_download(repo_id, filename, *, revision=None, local_dir=None, **kw):
            outer.calls.append(("hf_hub_download", repo_id, filename, revision, str(local_dir)))
            p = huggingface_hub_path(local_dir, filename)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x" * REMOTE[repo_id][filename])
            return str(p)

        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)

    def downloads(self):
        return [c for c in self.calls if c[0] != "model_info"]


def huggingface_hub_path(local_dir, name):
    from pathlib import Path

    return Path(local_dir) / name


def test_both_flows_request_exactly_the_matching_2_3_and_1_1_files(tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch)
    M.download(tmp_path, ["pro", "fast"], log=lambda _s: None, api=hub.api)
    d = str(tmp_path)
    assert hub.downloads() == [
        ("snapshot_download", "diffusers/LTX-2.3-Diffusers", sorted(k for k in REMOTE["diffusers/LTX-2.3-Diffusers"] if k not in (".gitattributes", "README.md")), "c0ffeedif", d),
        ("snapshot_download", "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers",
         ["latent_upsampler/config.json", "latent_upsampler/diffusion_pytorch_model.safetensors", "model_index.json"], "c0ffeeroo", d + "/latent_upsampler"),
        ("hf_hub_download", "Lightricks/LTX-2.3", "ltx-2.3-22b-distilled-lora-384-1.1.safetensors", "c0ffeeLig", d + "/distilled_lora"),
        ("snapshot_download", "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers",
         ["transformer/config.json", "transformer/diffusion_pytorch_model.safetensors"], "c0ffeeroo", d + "/distilled"),
    ]
    # The layout the worker reads: the upsampler pipeline folder, the LoRA, the distilled transformer.
    assert M.upsampler_dir(tmp_path) == tmp_path / "latent_upsampler" / "latent_upsampler"
    assert M.distilled_transformer_dir(tmp_path) == tmp_path / "distilled" / "transformer"
    assert [p.name for p in M.lora_files(tmp_path)] == ["ltx-2.3-22b-distilled-lora-384-1.1.safetensors"]
    assert not (tmp_path / "latent_upsampler" / "vae").exists()
    m = json.loads((tmp_path / M.MANIFEST_NAME).read_text())
    assert m["version"] == M.MODEL_VERSION and m["flows"] == ["pro", "fast"]
    assert m["components"]["distilled_lora"]["files"] == {"distilled_lora/ltx-2.3-22b-distilled-lora-384-1.1.safetensors": 1700}
    assert m["components"]["upsampler"]["files"]["latent_upsampler/latent_upsampler/config.json"] == 250
    assert M.verify(tmp_path)["ok"]


def test_the_fast_flow_alone_skips_the_lora_and_pro_alone_skips_the_distilled_transformer(tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch)
    M.download(tmp_path / "fast", ["fast"], log=lambda _s: None, api=hub.api)
    assert [c[1] for c in hub.downloads()] == ["diffusers/LTX-2.3-Diffusers", "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers",
                                               "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers"]
    hub.calls.clear()
    M.download(tmp_path / "pro", ["pro"], log=lambda _s: None, api=hub.api)
    assert [c[1] for c in hub.downloads()] == ["diffusers/LTX-2.3-Diffusers", "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers", "Lightricks/LTX-2.3"]
    assert "dg845/LTX-2.3-Distilled-Diffusers" not in {c.repo for c in M.COMPONENTS}


def test_an_interrupted_download_resumes_with_only_the_missing_and_truncated_files(tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch, fail_after=2)
    with pytest.raises(OSError):
        M.download(tmp_path, ["fast"], log=lambda _s: None, api=hub.api)
    assert not (tmp_path / M.MANIFEST_NAME).exists()
    # A truncated file from the broken run: fetched again, not kept.
    (tmp_path / "text_encoder" / "model.safetensors").write_bytes(b"x" * 10)
    hub = FakeHub(monkeypatch)
    M.download(tmp_path, ["fast"], log=lambda _s: None, api=hub.api)
    first = hub.downloads()[0]
    base = sorted(k for k in REMOTE["diffusers/LTX-2.3-Diffusers"] if k not in (".gitattributes", "README.md"))
    assert first[1] == "diffusers/LTX-2.3-Diffusers"
    assert base[:2] == ["model_index.json", "text_encoder/model.safetensors"]
    assert first[2] == base[1:]  # the complete file is kept; the truncated one and the rest are fetched
    assert M.verify(tmp_path)["ok"]
    # Everything complete: a rerun asks for nothing.
    hub.calls.clear()
    M.download(tmp_path, ["fast"], log=lambda _s: None, api=hub.api)
    assert hub.downloads() == []


def test_verify_names_missing_truncated_and_wrong_version(tmp_path, monkeypatch):
    assert M.verify(tmp_path)["problems"][0]["kind"] == "no_manifest"
    hub = FakeHub(monkeypatch)
    M.download(tmp_path, ["pro", "fast"], log=lambda _s: None, api=hub.api)
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 5)
    (tmp_path / "distilled_lora" / "ltx-2.3-22b-distilled-lora-384-1.1.safetensors").unlink()
    kinds = {p["kind"]: p["message"] for p in M.verify(tmp_path)["problems"]}
    assert set(kinds) == {"truncated", "missing_file"}
    assert "models download" in kinds["truncated"] and "vae/diffusion_pytorch_model.safetensors" in kinds["truncated"]
    m = json.loads((tmp_path / M.MANIFEST_NAME).read_text())
    m["components"]["distilled_transformer"]["repo"] = "dg845/LTX-2.3-Distilled-Diffusers"
    (tmp_path / M.MANIFEST_NAME).write_text(json.dumps(m))
    assert "wrong_version" in {p["kind"] for p in M.verify(tmp_path)["problems"]}
    m["version"] = "ltx-2.3/distilled-1.0"
    (tmp_path / M.MANIFEST_NAME).write_text(json.dumps(m))
    assert M.verify(tmp_path)["problems"][0]["kind"] == "wrong_version"


def test_the_loader_accepts_the_plain_hf_download_layouts(tmp_path):
    # `hf download rootonchair/...upscaler... --local-dir DIR/latent_upsampler`: nested pipeline folder.
    (tmp_path / "latent_upsampler" / "latent_upsampler").mkdir(parents=True)
    (tmp_path / "latent_upsampler" / "latent_upsampler" / "config.json").write_text("{}")
    assert M.upsampler_dir(tmp_path) == tmp_path / "latent_upsampler" / "latent_upsampler"
    # `--include "latent_upsampler/*" --local-dir DIR`: a bare model folder.
    other = tmp_path / "flat"
    (other / "latent_upsampler").mkdir(parents=True)
    (other / "latent_upsampler" / "config.json").write_text("{}")
    assert M.upsampler_dir(other) == other / "latent_upsampler"
    assert M.upsampler_dir(tmp_path / "none") is None


def test_the_tiny_model_has_the_download_layout_and_a_valid_manifest(tiny_model_dir):
    assert M.upsampler_dir(tiny_model_dir) == tiny_model_dir / "latent_upsampler" / "latent_upsampler"
    assert (tiny_model_dir / "latent_upsampler" / "model_index.json").is_file()
    assert M.distilled_transformer_dir(tiny_model_dir) is not None and M.lora_files(tiny_model_dir)
    report = M.verify(tiny_model_dir)
    assert report["ok"] and report["tiny"], report


def test_flows_option_is_checked():
    assert M.parse_flows(None) == ["pro", "fast"]
    assert M.parse_flows("fast") == ["fast"]
    with pytest.raises(ValueError, match="--flows"):
        M.parse_flows("pro,turbo")
