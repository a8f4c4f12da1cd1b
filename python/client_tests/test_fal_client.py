# The real fal_client (PyPI) against ltx-serve's built-in TLS, configured by environment variables
# only: the seed example, subscribe/submit/status/get/cancel, run, calls by request id, the async API,
# data URIs, field errors, and upload_file through fal's CDN v3 protocol (single and multipart).
import asyncio
import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import fal_client
import fal_client.client as fc
from conftest import BASE_URL, ENDPOINT, small_input


def fetch(url: str) -> httpx.Response:
    res = httpx.get(url)  # trusts SSL_CERT_FILE like the client does
    assert res.status_code == 200, (url, res.status_code, res.text[:200])
    return res


def assert_video(result: dict) -> None:
    video = result["video"]
    assert video["content_type"] == "video/mp4"
    assert video["url"].startswith(BASE_URL + "/")
    assert (video["width"], video["height"]) == (1920, 1080)
    res = fetch(video["url"])
    assert res.headers["content-type"] == "video/mp4"
    assert len(res.content) == video["file_size"]


def test_seed_example_runs_unmodified_with_env_vars_only(photo_uri):
    env = {**os.environ, "SEED_IMAGE_URL": photo_uri}
    script = Path(__file__).with_name("seed_example.py")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert any("Started on engine preview" in line for line in lines), out.stdout[-2000:]
    result = ast.literal_eval(lines[-1])
    assert result["video"]["duration"] == 6 and result["video"]["fps"] == 25
    assert_video(result)


def test_subscribe_with_logs_and_queue_updates(photo_uri):
    updates = []
    enqueued = []
    result = fal_client.subscribe(ENDPOINT, arguments=small_input(photo_uri), with_logs=True,
                                  on_enqueue=enqueued.append, on_queue_update=updates.append)
    assert_video(result)
    assert len(enqueued) == 1
    in_progress = [u for u in updates if isinstance(u, fal_client.InProgress)]
    assert in_progress and any(log["message"] for u in in_progress for log in (u.logs or []))


def test_submit_status_get_and_calls_by_request_id(photo_uri):
    handle = fal_client.submit(ENDPOINT, arguments=small_input(photo_uri))
    first = handle.status(with_logs=True)
    assert isinstance(first, (fal_client.Queued, fal_client.InProgress, fal_client.Completed))
    for _ in handle.iter_events(with_logs=True, interval=0.2):
        pass
    done = handle.status(with_logs=True)
    assert isinstance(done, fal_client.Completed)
    messages = "\n".join(log["message"] for log in done.logs)
    assert "Started on engine preview" in messages
    assert done.metrics["inference_time"] > 0
    assert handle.status(with_logs=False).logs is None
    result = handle.get()
    assert_video(result)
    # The same request through the module functions, which build URLs from FAL_QUEUE_RUN_HOST.
    by_id = fal_client.status(ENDPOINT, handle.request_id, with_logs=True)
    assert isinstance(by_id, fal_client.Completed)
    assert fal_client.result(ENDPOINT, handle.request_id) == result
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.cancel(ENDPOINT, handle.request_id)
    assert err.value.status_code == 400 and "ALREADY_COMPLETED" in str(err.value)


def test_cancel_by_handle_and_by_id(photo_uri):
    handle = fal_client.submit(ENDPOINT, arguments=small_input(photo_uri))
    handle.cancel()
    other = fal_client.submit(ENDPOINT, arguments=small_input(photo_uri))
    fal_client.cancel(ENDPOINT, other.request_id)
    for h in (handle, other):
        with pytest.raises(fal_client.FalClientHTTPError) as err:
            h.get()
        assert err.value.status_code == 400 and "cancel" in str(err.value).lower()
        status = h.status()
        assert isinstance(status, fal_client.Completed) and status.error_type == "request_cancelled"


def test_run(photo_uri):
    assert_video(fal_client.run(ENDPOINT, arguments=small_input(photo_uri, aspect_ratio="16:9")))


def test_field_errors_are_422_naming_the_field(photo_uri):
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.submit(ENDPOINT, arguments=small_input(photo_uri, duration=7))
    assert err.value.status_code == 422
    assert "duration" in str(err.value)
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.run(ENDPOINT, arguments={"image_url": photo_uri})
    assert err.value.status_code == 422
    assert "prompt" in str(err.value)


def test_async_api(photo_uri):
    async def main():
        client = fal_client.AsyncClient()
        updates = []
        result = await client.subscribe(ENDPOINT, arguments=small_input(photo_uri), with_logs=True,
                                        on_queue_update=updates.append)
        assert_video(result)
        assert any(isinstance(u, fal_client.InProgress) for u in updates)

        handle = await fal_client.submit_async(ENDPOINT, arguments=small_input(photo_uri))
        status = await handle.status(with_logs=True)
        assert isinstance(status, (fal_client.Queued, fal_client.InProgress, fal_client.Completed))
        await handle.cancel()
        with pytest.raises(fal_client.FalClientHTTPError) as err:
            await handle.get()
        assert err.value.status_code == 400

        assert_video(await fal_client.run_async(ENDPOINT, arguments=small_input(photo_uri)))
        with pytest.raises(fal_client.FalClientHTTPError) as err:
            await client.run(ENDPOINT, arguments=small_input(photo_uri, duration=7))
        assert err.value.status_code == 422 and "duration" in str(err.value)

    asyncio.run(main())


def test_upload_file_default_repository_single_part(photo):
    url = fal_client.upload_file(photo)
    assert url.startswith(BASE_URL + "/files/")
    res = fetch(url)
    assert res.content == photo.read_bytes()
    assert res.headers["content-type"] == "image/png"
    # An upload as the input image: test_readme_python_recipe renders from one.


def test_upload_file_legacy_fal_repository(photo):
    # repository="fal" (the client's fallback): POST {REST}/storage/upload/initiate, then a PUT of the bytes.
    url = fal_client.upload_file(photo, repository="fal", fallback_repository=[])
    assert url.startswith(BASE_URL + "/files/")
    res = fetch(url)
    assert res.content == photo.read_bytes()
    assert res.headers["content-type"] == "image/png"


def test_upload_file_async_default_repository(photo):
    url = asyncio.run(fal_client.upload_file_async(photo))
    assert url.startswith(BASE_URL + "/files/")
    assert fetch(url).content == photo.read_bytes()


def test_upload_file_default_repository_multipart(tmp_path):
    # The client switches to the multipart CDN protocol above MULTIPART_THRESHOLD (100 MiB).
    size = fc.MULTIPART_THRESHOLD + 1024 * 1024 + 7
    path = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        written = 0
        while written < size:
            chunk = block[: size - written]
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    url = fal_client.upload_file(path)
    assert url.startswith(BASE_URL + "/files/")
    got = hashlib.sha256()
    n = 0
    with httpx.stream("GET", url) as res:
        assert res.status_code == 200
        for chunk in res.iter_bytes():
            got.update(chunk)
            n += len(chunk)
    assert n == size
    assert got.hexdigest() == digest.hexdigest()


def test_readme_python_recipe(photo, tmp_path):
    # The README's ```python block, run as written but for this server's origin in place of 127.0.0.1:8787.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "fal_client.upload_file(" in block and "fc.CDN_URL" in block
    from PIL import Image

    Image.open(photo).convert("RGB").save(tmp_path / "photo.jpg")
    script = tmp_path / "recipe.py"
    script.write_text(block.replace("https://127.0.0.1:8787", BASE_URL))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    url = out.stdout.strip().splitlines()[-1]
    assert url.startswith(BASE_URL + "/files/") and url.endswith(".mp4")
    assert fetch(url).headers["content-type"] == "video/mp4"


def test_multipart_parts_listed_out_of_order():
    # upload_file runs part PUTs concurrently and lists them as they finish; here deterministically
    # in reverse, through the client's own MultipartUpload.
    client = fal_client.SyncClient()
    upload = fc.MultipartUpload(file_name="parts.bin", client=httpx.Client(), token_manager=client._token_manager,
                                chunk_size=5, content_type="application/octet-stream")
    upload.create()
    upload.upload_part(3, b"ccc")
    upload.upload_part(2, b"bbbbb")
    upload.upload_part(1, b"aaaaa")
    url = upload.complete()
    assert fetch(url).content == b"aaaaabbbbbccc"
