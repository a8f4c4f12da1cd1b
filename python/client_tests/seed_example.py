# The Python example of fal's page for fal-ai/ltx-2.3/image-to-video, verbatim except for image_url:
# the page's https://v3b.fal.media image is not reachable offline, so the suite passes a local file
# as a data URI in SEED_IMAGE_URL. The server comes from the environment (README, Python recipe).
import os

import fal_client

def on_queue_update(update):
    if isinstance(update, fal_client.InProgress):
        for log in update.logs:
           print(log["message"])

result = fal_client.subscribe(
    "fal-ai/ltx-2.3/image-to-video",
    arguments={
        "image_url": os.environ["SEED_IMAGE_URL"],
        "prompt": "Periscope-level shot from behind tall grass of two Maasai warriors mid-leap during an adumu jumping dance, bodies fully airborne against a golden savanna sunset, red shuka robes frozen in motion, dust kicked up from the earth catching backlight, 85mm f/1.4 isolating the pair from a blurred circle of onlookers, Steve McCurry meets Emmanuel Lubezki"
    },
    with_logs=True,
    on_queue_update=on_queue_update,
)
print(result)
