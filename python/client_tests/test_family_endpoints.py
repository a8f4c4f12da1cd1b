# The real fal_client against the rest of the LTX-2.3 family on the same server: text-to-video (Pro
# and Fast) and audio-to-video, with their own field errors; videos are fetched and their sizes checked.
import io
import math
import struct
import wave

import httpx
import pytest

import fal_client
from conftest import BASE_URL

T2V = "fal-ai/ltx-2.3/text-to-video"
T2V_FAST = "fal-ai/ltx-2.3/text-to-video/fast"
A2V = "fal-ai/ltx-2.3/audio-to-video"


def fetched_video(result: dict) -> dict:
    video = result["video"]
    assert video["content_type"] == "video/mp4"
    assert video["url"].startswith(BASE_URL + "/")
    res = httpx.get(video["url"])
    assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
    assert len(res.content) == video["file_size"]
    return video


def wav_data_uri(seconds: float, rate: int = 16000) -> str:
    """A mono 440 Hz sine as a WAV data URI, made here (the machine is offline)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(frames)))
    return fal_client.encode(buf.getvalue(), "audio/wav")


@pytest.mark.parametrize("endpoint", [T2V, T2V_FAST])
def test_text_to_video_pro_and_fast(endpoint):
    result = fal_client.subscribe(endpoint, arguments={"prompt": "a lighthouse at dusk, waves below", "duration": 6,
                                                       "fps": 24, "generate_audio": False, "seed": 7})
    video = fetched_video(result)
    assert (video["width"], video["height"]) == (1920, 1080)
    assert video["fps"] == 24 and video["duration"] == 6


def test_text_to_video_field_errors_name_the_field():
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.submit(T2V, arguments={"prompt": "x", "duration": 7})
    assert err.value.status_code == 422 and "duration" in str(err.value)
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.submit(T2V_FAST, arguments={"duration": 6})
    assert err.value.status_code == 422 and "prompt" in str(err.value)


def test_audio_to_video_follows_the_audio():
    result = fal_client.subscribe(A2V, arguments={"audio_url": wav_data_uri(1.0), "prompt": "a speaker on stage",
                                                  "fps": 24, "seed": 3})
    video = fetched_video(result)
    assert video["fps"] == 24
    assert abs(video["duration"] - 1.0) <= 1 / 24 + 1e-6
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.submit(A2V, arguments={"prompt": "no audio"})
    assert err.value.status_code == 422 and "audio_url" in str(err.value)
