# The LTX-2.3 weights the worker reads: which Hugging Face repositories and files make each flow (all of
# one release, LTX-2.3 with the 1.1 distilled transformer, LoRA and upsampler), the folder layout under
# LTX_MODEL_DIR, and a manifest (ltx_models_manifest.json) with every file's size so a missing, truncated
# or wrong-version file is found before the worker loads 100 GB. CLI (run by `ltx-serve models download`):
#   python -m ltx_worker.models download --dir DIR [--flows pro,fast]
#   python -m ltx_worker.models verify --dir DIR [--flows pro,fast]      (JSON report, exit 1 on problems)
# See docs/ltx-engine.md, "Weights".
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

MANIFEST_NAME = "ltx_models_manifest.json"
MANIFEST_FORMAT = 1
# The release every component below belongs to; a manifest that names another is "wrong version".
MODEL_VERSION = "ltx-2.3/distilled-1.1"
TINY_MARKER = "ltx_worker_tiny.json"
FLOWS = ("pro", "fast")


@dataclass(frozen=True)
class Component:
    name: str
    repo: str
    # Folder under LTX_MODEL_DIR the repository's files land in (their repo paths kept below it).
    local: str
    # Repository paths (fnmatch patterns) to fetch; None: the whole repository.
    patterns: tuple[str, ...] | None
    flows: tuple[str, ...]
    what: str


COMPONENTS: tuple[Component, ...] = (
    Component("base", "diffusers/LTX-2.3-Diffusers", "", None, ("pro", "fast"),
              "the Diffusers-format LTX-2.3 dev pipeline (DiT, VAEs, vocoder, connectors, Gemma 3 12B)"),
    # Packaged as an LTX2LatentUpsamplePipeline; its vae/ is a copy of the base VAE, so only the upsampler
    # and model_index.json are fetched: DIR/latent_upsampler/latent_upsampler/{config.json,weights}.
    Component("upsampler", "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers", "latent_upsampler",
              ("model_index.json", "latent_upsampler/*"), ("pro", "fast"), "the x2 spatial latent upsampler v1.1"),
    Component("distilled_lora", "Lightricks/LTX-2.3", "distilled_lora",
              ("ltx-2.3-22b-distilled-lora-384-1.1.safetensors",), ("pro",),
              "the distilled LoRA 384 v1.1 (pro flow, stage 2)"),
    # The v1.1 conversion (dg845/LTX-2.3-Distilled-Diffusers is the older v1.0 one).
    Component("distilled_transformer", "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers", "distilled",
              ("transformer/*",), ("fast",), "the distilled DiT v1.1 (fast flow)"),
)


def parse_flows(text: str | None) -> list[str]:
    flows = [f.strip() for f in (text or "pro,fast").split(",") if f.strip()]
    bad = [f for f in flows if f not in FLOWS]
    if bad or not flows:
        raise ValueError(f"--flows must be a comma list of {', '.join(FLOWS)}; got {text!r}")
    return flows


def components_for(flows: list[str]) -> list[Component]:
    return [c for c in COMPONENTS if any(f in c.flows for f in flows)]


def _matches(path: str, patterns: tuple[str, ...] | None) -> bool:
    if patterns is None:
        return not path.startswith(".") and path not in ("README.md",)
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def local_path(model_dir: Path, comp: Component, repo_path: str) -> Path:
    return model_dir / comp.local / repo_path if comp.local else model_dir / repo_path


def remote_files(api, comp: Component) -> tuple[str, dict[str, int]]:
    """The repository's commit and {repo path: size} of the files this component needs (one Hub call)."""
    info = api.model_info(comp.repo, files_metadata=True)
    files = {s.rfilename: int(s.size or 0) for s in (info.siblings or []) if _matches(s.rfilename, comp.patterns)}
    if not files:
        raise RuntimeError(f"{comp.repo} has no files matching {comp.patterns}; the repository changed, see docs/ltx-engine.md")
    return str(info.sha or ""), files


def read_manifest(model_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(model_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(model_dir: Path, flows: list[str], components: dict[str, dict[str, Any]], tiny: bool = False) -> Path:
    out = Path(model_dir) / MANIFEST_NAME
    data = {
        "format": MANIFEST_FORMAT,
        "version": MODEL_VERSION,
        "tiny": tiny,
        "flows": flows,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "components": components,
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(out)
    return out


def download(model_dir: str | Path, flows: list[str], log: Callable[[str], None] = print, api=None) -> Path:
    """Fetches what `flows` need into model_dir (resuming: complete files are kept, partial downloads
    resume in huggingface_hub's local-dir cache, truncated files are fetched again), then writes the manifest."""
    import huggingface_hub as hub

    api = api or hub.HfApi()
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    old = read_manifest(model_dir) or {}
    comps: dict[str, dict[str, Any]] = dict(old.get("components") or {}) if old.get("version") == MODEL_VERSION else {}
    for comp in components_for(flows):
        sha, files = remote_files(api, comp)
        todo = []
        for repo_path, size in sorted(files.items()):
            p = local_path(model_dir, comp, repo_path)
            have = p.stat().st_size if p.is_file() else None
            if have == size:
                continue
            if have is not None:
                log(f"models: {p} has {have} of {size} bytes; fetching it again")
                p.unlink()
            todo.append(repo_path)
        target = model_dir / comp.local if comp.local else model_dir
        if not todo:
            log(f"models: {comp.name} complete ({comp.repo})")
        else:
            log(f"models: {comp.name}: {len(todo)} file(s), {sum(files[t] for t in todo) / 1e9:.1f} GB from {comp.repo}")
            if comp.patterns is not None and len(comp.patterns) == 1 and "*" not in comp.patterns[0]:
                hub.hf_hub_download(comp.repo, comp.patterns[0], revision=sha or None, local_dir=str(target))
            else:
                hub.snapshot_download(comp.repo, revision=sha or None, local_dir=str(target), allow_patterns=todo)
        comps[comp.name] = {"repo": comp.repo, "revision": sha, "local": comp.local,
                            "files": {str(local_path(Path(""), comp, k)): v for k, v in files.items()}}
    all_flows = set(flows) | (set(old.get("flows") or []) if old.get("version") == MODEL_VERSION else set())
    manifest = write_manifest(model_dir, [f for f in FLOWS if f in all_flows], comps)
    problems = verify(model_dir, flows)["problems"]
    if problems:
        raise RuntimeError("download incomplete: " + "; ".join(p["message"] for p in problems))
    log(f"models: ok, manifest {manifest}")
    return manifest


def verify(model_dir: str | Path, flows: list[str] | None = None) -> dict[str, Any]:
    """Checks model_dir against its manifest: every listed file present with its size, the release, and the
    components the flows need. Returns {"ok", "version", "flows", "problems": [{kind, message}]}."""
    model_dir = Path(model_dir)
    m = read_manifest(model_dir)
    fix = f"run `npx ltx-serve models download --dir {model_dir}`"
    if m is None:
        return {"ok": False, "version": None, "flows": [], "problems": [
            {"kind": "no_manifest", "message": f"no {MANIFEST_NAME} in {model_dir}; {fix} (it resumes and keeps complete files)"}]}
    problems: list[dict[str, str]] = []
    if m.get("version") != MODEL_VERSION or m.get("format") != MANIFEST_FORMAT:
        problems.append({"kind": "wrong_version", "message": f"the weights are {m.get('version')!r}, the worker needs {MODEL_VERSION!r}; {fix}"})
    comps = m.get("components") or {}
    wanted = flows if flows is not None else list(m.get("flows") or [])
    if not m.get("tiny"):
        for comp in components_for(wanted):
            entry = comps.get(comp.name)
            if entry is None:
                problems.append({"kind": "missing_component", "message": f"{comp.what} ({comp.repo}) is not downloaded; {fix} --flows {','.join(wanted)}"})
            elif entry.get("repo") != comp.repo:
                problems.append({"kind": "wrong_version", "message": f"{comp.name} came from {entry.get('repo')}, expected {comp.repo}; {fix}"})
    for name, entry in comps.items():
        for rel, size in (entry.get("files") or {}).items():
            p = model_dir / rel
            if not p.is_file():
                problems.append({"kind": "missing_file", "message": f"{rel} ({name}) is missing; {fix}"})
            elif p.stat().st_size != int(size):
                problems.append({"kind": "truncated", "message": f"{rel} has {p.stat().st_size} bytes, the manifest says {size}; {fix}"})
    return {"ok": not problems, "version": m.get("version"), "flows": m.get("flows") or [], "tiny": bool(m.get("tiny")), "problems": problems}


def manifest_for_existing(model_dir: str | Path, flows: list[str], tiny: bool) -> Path:
    """Writes a manifest of what already lies in model_dir in the download layout (the tiny test model)."""
    model_dir = Path(model_dir)
    comps: dict[str, dict[str, Any]] = {}
    for comp in components_for(flows):
        root = model_dir / comp.local if comp.local else model_dir
        files = {}
        for p in sorted(root.rglob("*")):
            rel_repo = p.relative_to(root).as_posix()
            if not p.is_file() or p.name in (MANIFEST_NAME, TINY_MARKER):
                continue
            if comp.local == "" and rel_repo.split("/")[0] in {c.local for c in COMPONENTS if c.local}:
                continue
            if comp.patterns is not None and not _matches(rel_repo, comp.patterns) and not (comp.name == "distilled_lora" and p.suffix == ".safetensors"):
                continue
            files[p.relative_to(model_dir).as_posix()] = p.stat().st_size
        comps[comp.name] = {"repo": "tiny-random" if tiny else comp.repo, "revision": "", "local": comp.local, "files": files}
    return write_manifest(model_dir, flows, comps, tiny=tiny)


# ---- the layouts the loader accepts ------------------------------------------------------------------

def upsampler_dir(model_dir: str | Path) -> Path | None:
    """The LTX2LatentUpsamplerModel folder: latent_upsampler/latent_upsampler/ (the upsampler repo as a
    pipeline folder: what `models download` and a plain `hf download … --local-dir DIR/latent_upsampler`
    write) or latent_upsampler/ itself (a bare model folder)."""
    base = Path(model_dir) / "latent_upsampler"
    for cand in (base / "latent_upsampler", base):
        if (cand / "config.json").is_file():
            return cand
    return None


def distilled_transformer_dir(model_dir: str | Path) -> Path | None:
    cand = Path(model_dir) / "distilled" / "transformer"
    return cand if (cand / "config.json").is_file() else None


def lora_files(model_dir: str | Path) -> list[Path]:
    d = Path(model_dir) / "distilled_lora"
    return sorted(d.rglob("*.safetensors")) if d.is_dir() else []


def is_tiny(model_dir: str | Path) -> bool:
    return (Path(model_dir) / TINY_MARKER).is_file()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m ltx_worker.models")
    p.add_argument("action", choices=["download", "verify"])
    p.add_argument("--dir", required=True)
    p.add_argument("--flows", default=None)
    args = p.parse_args(argv)
    try:
        flows = parse_flows(args.flows)
    except ValueError as err:
        print(str(err), file=sys.stderr)
        return 2
    if args.action == "verify":
        report = verify(args.dir, flows if args.flows else None)
        print(json.dumps(report))
        return 0 if report["ok"] else 1
    try:
        download(args.dir, flows, log=lambda s: print(s, file=sys.stderr, flush=True))
    except Exception as err:  # noqa: BLE001 - one clear line for the CLI
        print(f"models: FAILED - {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
