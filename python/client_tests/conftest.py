# The fal_client suite's shared setup: the server comes from the environment alone (FAL_KEY,
# FAL_RUN_HOST, FAL_QUEUE_RUN_HOST, SSL_CERT_FILE, as the README's Python recipe says), so this suite
# runs against any ltx-serve with built-in TLS. test/python-client.test.ts starts one and runs it.
import itertools
import os
import random

import pytest

ENDPOINT = "fal-ai/ltx-2.3/image-to-video"

for name in ("FAL_KEY", "FAL_RUN_HOST", "FAL_QUEUE_RUN_HOST"):
    if not os.environ.get(name):
        raise pytest.UsageError(f"{name} must be set (see the README's Python recipe)")

# https origin of the server, from FAL_RUN_HOST=<host:port>/fal.run
BASE_URL = "https://" + os.environ["FAL_RUN_HOST"].removesuffix("/fal.run")

import fal_client  # noqa: E402  (after the environment check: it reads the hosts at import)
import fal_client.client as fc  # noqa: E402

# The one line of the recipe for uploads: the client hard-codes rest.fal.ai and v3.fal.media.
fc.REST_URL = f"{BASE_URL}/rest.fal.ai"; fc.CDN_URL = f"{BASE_URL}/v3.fal.media"  # noqa: E702

_seeds = itertools.count(random.randrange(1, 10**6))


def small_input(image_url: str, **extra):
    """The cheapest request: 1080p, 6 s, 24 fps, no audio; a new seed each call so requests are distinct."""
    return {"image_url": image_url, "prompt": "a calm test scene", "duration": 6, "fps": 24,
            "generate_audio": False, "seed": next(_seeds), **extra}


@pytest.fixture(scope="session")
def photo(tmp_path_factory):
    """A small landscape PNG with some structure."""
    from PIL import Image, ImageDraw

    path = tmp_path_factory.mktemp("img") / "photo.png"
    img = Image.new("RGB", (640, 360), (60, 110, 190))
    draw = ImageDraw.Draw(img)
    draw.ellipse((120, 80, 260, 220), fill=(240, 240, 240))
    draw.rectangle((380, 180, 560, 300), fill=(30, 30, 30))
    img.save(path)
    return path


@pytest.fixture(scope="session")
def photo_uri(photo):
    return fal_client.encode_file(photo)
