"""The running demo: the API through gradio_client and raw HTTP (good and bad input, concurrent
calls, what errors and logs show), then a real browser (marked `browser`): the pad and its tools
(drawn with mouse strokes), the races, uploads, refused inputs, the layout on a laptop and a phone,
the painted region.

Set AELAB_DEMO_SCREENSHOT=docs/demo.png to save the laptop test's screenshot (the README's).
"""
from __future__ import annotations

import base64
import io
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.testing import CHROMIUM, CHROMIUM_ARGS, INK_ON_PAD, AppProcess, drag, draw_seven, drawing


@pytest.fixture(scope="module")
def app():
    app = AppProcess()
    app.url(timeout=900)  # a busy shared machine boots slowly
    yield app
    app.stop()
    log = "".join(app.lines)
    # Every bad input of these tests was the client's mistake: none may leave a traceback.
    assert "demo: unexpected error" not in log and log.count("Traceback") == 0, log[-5000:]


@pytest.fixture(scope="module")
def app_url(app):
    return app.url(timeout=900)


def data_url(array_or_bytes) -> str:
    if isinstance(array_or_bytes, bytes):
        raw = array_or_bytes
    else:
        buf = io.BytesIO()
        Image.fromarray(array_or_bytes).save(buf, format="PNG")
        raw = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


SEVEN = data_url(drawing("seven", background="white"))


# --- the API ---------------------------------------------------------------------------------------

def test_the_posterior_comes_second_and_its_failure_leaves_the_other_cards(monkeypatch):
    """The click's first update holds every card but the posterior's (its place kept), the second
    adds it; if the posterior fails, the other cards stand and the page says so."""
    import demo.app as app  # the app's function in this process (the engine loads once)

    (cards, _, digits, numbers), (cards2, _, digits2, numbers2) = app.compare(SEVEN)
    assert 'class="card pending" id="card-posterior"' in cards and digits is None and "posterior" not in numbers
    assert 'class="card pending"' not in cards2 and 'id="psnr-posterior"' in cards2 and set(digits2) == set("0123456789")
    assert numbers2["server_total_ms"] >= numbers2["server_ms"] == numbers["server_ms"]

    def failing(c):
        c.pending = None
        raise RuntimeError("the sampler failed")

    monkeypatch.setattr(app.ENGINE, "finish_posterior", failing)
    *_, (cards, _, digits, numbers) = app.compare(SEVEN)
    assert "The posterior could not be computed" in cards and 'id="psnr-map"' in cards
    assert 'id="card-posterior"' not in cards and digits is None and numbers["map"]["psnr"] > 0

def test_api_answers_with_every_output_and_reading(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=False)
    results, details, digits, numbers = client.predict(drawing=SEVEN, noise_type="Gaussian", level=0.5, seed=0,
                                                       api_name="/compare")
    assert all(numbers[m]["ms"] > 0 and np.isfinite(numbers[m]["psnr"]) for m in ("ae", "vae", "map", "filter", "dncnn"))
    assert numbers["clean_reading"]["digit"] == 7 and numbers["map_likelihood"] == "clipping-aware"
    # Each judge's digit and confidence, and the verdict they make together.
    from core.denoising import judge

    assert set(numbers["judges_unsure_below"]) == set(judge.NAMES)
    for m in ("clean_reading", "ae", "vae", "map", "filter", "dncnn"):
        r = numbers[m] if m == "clean_reading" else numbers[m]["reading"]
        assert set(r["judges"]) == set(judge.NAMES) and r["verdict"] in ("sure", "unsure", "disagree"), m
        assert r["sure"] == (r["verdict"] == "sure") == all(j["sure"] and j["digit"] == r["digit"] for j in r["judges"].values())
    assert numbers["clean_reading"]["verdict"] == "sure"
    # The posterior beside MAP: its mean as a card, its sd map and draws under it, the digits it
    # could be (a gr.Label: the most likely first) and the misfit test's verdict.
    post = numbers["posterior_extra"]
    assert numbers["posterior"]["ms"] > 0 and 'id="card-posterior"' in results and 'id="posterior-sd"' in results
    assert digits["label"] == max(post["digit_probabilities"], key=post["digit_probabilities"].get) == "7"
    assert sum(post["digit_probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert ('id="posterior-warning"' in results) == post["flagged"] and not post["flagged"]
    for key in ("ae", "vae", "map"):
        assert f'id="psnr-{key}"' in results and "dB" in results
    assert "Trained on clean digits only" in results and "reads" in results
    # An output both judges read as another digit than the clean drawing is marked as such.
    marked = {m for m in ("ae", "vae", "map", "filter", "dncnn") if numbers[m]["differs"]}
    assert all(numbers[m]["reading"]["verdict"] == "sure" and numbers[m]["reading"]["digit"] != 7 for m in marked)
    for m in ("ae", "vae", "map", "filter", "dncnn"):
        card = results.split(f'id="card-{m}"')[1].split('<div class="card')[0]
        assert ('class="differs"' in card) == (m in marked), m
    # MAP's other restarts that both judges read as other digits are shown with their reading.
    alternatives = numbers["map_alternatives"]
    assert ('id="map-alternatives"' in results) == bool(alternatives)
    assert all(a["reading"]["digit"] != numbers["map"]["reading"]["digit"] and a["reading"]["verdict"] == "sure"
               for a in alternatives)
    # The MAP curve and the marks on the latent map are small SVGs (the map's image is in the page's
    # stylesheet, sent once); the positions are in the numbers too.
    assert details.count("<svg") == 2 and 'class="latent-overlay"' in details and len(details) < 20_000
    assert len(numbers["latent_map"]["clean"]) == 2 and numbers["latent_map"]["map_path"]
    assert numbers["server_ms"] >= numbers["total_ms"] > 0
    for key, url in numbers["images"].items():
        assert decode(url).shape[:2] == (28, 28), key
    # MAP's beta: validated for the noise level (clipping-aware objective) unless the caller turns
    # that off. (At 0.5 and 0.8 the validation chose the same beta; at 0.1 a far smaller one.)
    from core.denoising.defaults import MapDefaults

    defaults = MapDefaults.read()
    weak = client.predict(drawing=SEVEN, level=0.1, api_name="/compare")[-1]
    for n, level in ((numbers, 0.5), (weak, 0.1)):
        assert n["beta"] == defaults.settings(level, clip_aware=True, single_image=True).beta
    assert weak["beta"] != numbers["beta"]
    chosen = client.predict(drawing=SEVEN, level=0.8, beta=0.5, auto_beta=False, api_name="/compare")[-1]
    assert chosen["beta"] == 0.5


def test_30_concurrent_calls_each_get_their_own_complete_images(app_url):
    """A shared cached output file rewritten while served gave ~1 in 30 a 0-byte image."""
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=False)
    jobs = [client.submit(SEVEN, "Gaussian", 0.5, seed % 3, 0.1, 5, True, "", api_name="/compare")
            for seed in range(30)]
    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(lambda job: job.result(timeout=900), jobs))
    for *_, numbers in results:
        for url in numbers["images"].values():
            assert decode(url).size > 0
    assert len({r[-1]["noisy_psnr"] for r in results}) == 3  # each call its own seed


def _error(client, *args, **kwargs) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(*args, api_name="/compare", **kwargs)
    return str(err.value)


def test_api_user_errors_are_clean_short_and_logged_in_one_line(app, app_url, tmp_path):
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=False)
    big = io.BytesIO()
    Image.new("L", (5000, 300), 255).save(big, format="PNG")
    before = len(app.lines)
    cases = [
        (dict(drawing=""), "empty"),
        (dict(drawing="/etc/passwd"), "data:image/png;base64"),
        (dict(drawing=data_url(b"just text")), "not an image"),
        (dict(drawing=data_url(big.getvalue())), "5000x300 px; drawings must be"),
        (dict(drawing="data:image/png;base64," + "A" * 5_000_000), "MB"),
        (dict(drawing=[None] * 100_000), "data:image/png;base64"),   # was 100,000 sketch layers
        (dict(drawing=SEVEN, level=5), '"5" is out of range'),
        (dict(drawing=SEVEN, noise_type="P" * 100_000), "must be one of"),
        (dict(drawing=SEVEN, noise_type="Erased block", level=1.0), "impossible"),
        (dict(drawing=SEVEN, noise_type="Painted region"), "nothing is painted"),
    ]
    # A server path in any image argument: one message, whether it names a PNG, a text file, a
    # folder or nothing (the region argument once read server files and told which existed).
    server_png = tmp_path / "region.png"
    Image.new("L", (280, 280), 0).save(server_png)
    refusal = "must be sent as image data"
    for path in (str(server_png), "/etc/passwd", "/etc/does-not-exist", "/root"):
        cases += [(dict(drawing=SEVEN, noise_type="Painted region", region=path), refusal),
                  (dict(drawing=path), "data:image/png;base64")]
    region_texts = set()
    for kwargs, message in cases:
        text = _error(client, **kwargs)
        if "region" in kwargs:
            region_texts.add(text)
        assert message in text, (kwargs.get("noise_type", "")[:20], text[:300])
        assert len(text) < 400 and str(tmp_path.parent) not in text and os.getcwd() not in text
        assert not re.search(r"Traceback|pydantic|object at 0x|/tmp/", text), text
    assert len(region_texts) == 1, region_texts  # nothing tells an existing file from a missing one
    log = "".join(app.lines[before:])
    assert "Traceback" not in log, log[-3000:]
    assert log.count("demo: input refused:") == len(cases), log[-3000:]


@pytest.mark.parametrize("field, typed, message", [
    ("level", "abc", '"abc" is not a number; type a number from 0 to 1'),
    ("level", "0,3", "write decimals with a point: 0.3"),
    ("level", "0.3.3", '"0.3.3" is not a number'),
    ("level", "99", '"99" is out of range; type a number from 0 to 1'),
    ("seed", "x", '"x" is not a number; type a whole number from 0 to 2147483647'),
    ("seed", "1e12", '"1e12" is out of range'),
    ("seed", "2.5", '"2.5" is not a whole number'),
    ("seed", 2.5, '"2.5" is not a whole number'),
    ("steps", "20.5", '"20.5" is not a whole number'),
])
def test_api_typed_numbers_are_quoted_back_never_turned_into_others(app_url, field, typed, message):
    """ "abc" was run as level 0, "0,3" as 1, "0.3.3" as 0.33, "99" as 1; seed "x" got a Python
    repr, "2.5" ran as 2. Now each is refused with what was typed and the range."""
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=False)
    text = _error(client, drawing=SEVEN, **{field: typed})
    assert message in text and "None" not in text, text


def _raw_call(app_url: str, data) -> str:
    """POST the arguments to /compare over plain HTTP, read its event stream: the error's text."""
    import json

    import httpx

    r = httpx.post(app_url + "gradio_api/call/compare", json={"data": data}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    with httpx.stream("GET", app_url + f"gradio_api/call/compare/{r.json()['event_id']}", timeout=120) as s:
        body = s.read().decode()
    assert "event: error" in body, body[:300]
    return json.loads(body.split("data:", 1)[1].strip())["error"] or ""


def test_api_wrong_argument_counts_get_a_clear_error_and_one_short_log_line(app, app_url):
    """Too few arguments answered {"error": null} and logged a traceback with every argument (a
    12 MB one added 12 MB to the log); too many were dropped silently."""
    import httpx

    before = len(app.lines)
    size_before = sum(map(len, app.lines))
    huge = "data:image/png;base64," + "A" * 12_000_000
    good = [SEVEN, "Gaussian", "0.5", "0", "0.1", "20", True, ""]
    refusals = 0
    for data in ([], [SEVEN], [huge], good + ["extra"], [huge] + good):
        text = _raw_call(app_url, data)
        assert "/compare takes 8 arguments (drawing, noise_type, level, seed" in text, text[:300]
        assert text.endswith(f"not {len(data)}.") and len(text) < 200
        refusals += 1
    for i in range(4):   # 12 MB in the drawing, the noise type, the level, the seed
        assert len(_raw_call(app_url, good[:i] + [huge] + good[i + 1:])) < 300
        refusals += 1
    # The events that only run in the browser, and one that does not exist.
    config = httpx.get(app_url + "config", timeout=60).json()
    browser_only = [d["id"] for d in config["dependencies"] if not d.get("backend_fn")]
    assert browser_only
    for fn_index in browser_only:
        r = httpx.post(app_url + "gradio_api/queue/join", timeout=60,
                       json={"data": good, "fn_index": fn_index, "session_hash": "abc123"})
        assert r.status_code == 200
        refusals += 1
    r = httpx.post(app_url + "gradio_api/queue/join", json={"data": good, "fn_index": 999, "session_hash": "x"},
                   timeout=60)
    assert r.status_code == 404 and "/compare" in r.json()["detail"]
    refusals += 1
    deadline = time.monotonic() + 60   # the queue refuses the browser-only events in its own time
    while sum(line.startswith("demo: ") for line in app.lines[before:]) < refusals and time.monotonic() < deadline:
        time.sleep(0.2)
    new = app.lines[before:]
    assert "Traceback" not in "".join(new), "".join(new)[-3000:]
    assert all(len(line) < 400 for line in new), max(map(len, new))
    assert sum(line.startswith("demo: ") for line in new) == len(new) == refusals, new
    assert sum(map(len, app.lines)) - size_before < 5000   # 12 MB arguments, a few kB of log


@pytest.mark.parametrize("side", [3000, 10000])
def test_api_a_huge_image_is_said_to_be_too_large(app_url, side):
    """Pillow's decompression-bomb limit answered "The image is not an image"."""
    from gradio_client import Client

    buf = io.BytesIO()
    Image.new("1", (side, side), 1).save(buf, format="PNG")   # a few kB, whatever its size
    client = Client(app_url, verbose=False, download_files=False)
    text = _error(client, drawing=data_url(buf.getvalue()))
    assert "too large" in text and "2048x2048" in text and "not an image" not in text, text


def test_gradio_uploads_have_a_maximum_size(app_url):
    import httpx

    small = httpx.post(app_url + "gradio_api/upload", files={"files": ("a.png", b"x" * 1000)}, timeout=60)
    assert small.status_code == 200
    large = httpx.post(app_url + "gradio_api/upload", files={"files": ("a.png", b"x" * 3_000_000)}, timeout=60)
    assert large.status_code in (400, 413) and len(large.content) < 2000


# --- the browser -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not os.environ.get("AELAB_REQUIRE_BROWSER"):
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.server_errors = []
    page.on("response", lambda r: page.server_errors.append(r.status) if r.status >= 500 else None)
    page.goto(app_url)
    page.wait_for_selector("#pad canvas.region", timeout=60_000)
    yield page
    page.close()


def compare_and_wait(page) -> dict:
    """Click Compare; wait for a new results panel and its last update (no card pending: the
    posterior comes after the other cards); the JSON numbers of this run."""
    page.evaluate("document.querySelector('#psnr-map')?.setAttribute('data-old', '1')")
    page.click("#run")
    page.wait_for_function("() => { const m = document.querySelector('#psnr-map'); "
                           "return m && !m.dataset.old && !document.querySelector('#results .card.pending'); }",
                           timeout=120_000)
    return numbers(page)


def numbers(page) -> dict:
    """The clean reading / noise of the panel on screen (read from its cards)."""
    text = page.inner_text("#card-clean")
    digit = re.search(r"reads (\d)", text)
    return {"clean_digit": int(digit.group(1)) if digit else None, "noisy": page.inner_text("#card-noisy")}


@pytest.mark.browser
def test_the_first_stroke_draws_with_the_brush(page):
    """The pad once opened on the upload tool and dragging drew nothing: the first stroke draws."""
    draw_seven(page)  # no tool chosen first
    assert compare_and_wait(page)["clean_digit"] == 7
    for key in ("ae", "vae", "map"):
        text = page.inner_text(f"#psnr-{key}")
        assert "PSNR" in text and "dB" in text and "ms" in text
    # The brush's width gives MNIST-like strokes: the 28x28 the models see has 2-4 px wide lines.
    src = page.get_attribute("#card-clean img", "src")
    x = decode(src).astype(float) / 255
    assert 0.08 < (x > 0.5).mean() < 0.3


@pytest.mark.browser
def test_an_example_then_compare_at_once_runs_on_the_example(page):
    """Clicking an example then Compare within ~0.4 s once ran on the previous drawing."""
    for digit in (3, 8, 0):
        page.click(f"#pad .examples button[data-example='{digit}']")
        assert compare_and_wait(page)["clean_digit"] == digit


@pytest.mark.browser
def test_compare_clicks_during_a_run_are_not_dropped(page):
    """A click during a run was once silently ignored; now the last one runs after it."""
    page.click("#pad .examples button[data-example='2']")
    page.evaluate("document.querySelector('#psnr-map')?.setAttribute('data-old', '1')")
    page.click("#run")
    page.click("#pad .examples button[data-example='6']")
    page.click("#run")  # while the first run is (very likely) still going
    page.wait_for_function("() => /reads 6/.test(document.querySelector('#card-clean')?.innerText || '')",
                           timeout=120_000)


@pytest.mark.browser
def test_uploads_that_are_not_images_or_too_small_say_so(page, tmp_path):
    """Non-image uploads once said "the canvas is empty" and a 1x1 image was stretched."""
    txt = tmp_path / "notes.txt"
    txt.write_text("not a picture")
    page.set_input_files("#pad input[type=file]", str(txt))
    page.wait_for_function("() => /not an image/.test(document.querySelector('.pad-status').innerText)")
    tiny = tmp_path / "tiny.png"
    Image.new("L", (1, 1), 0).save(tiny)
    page.set_input_files("#pad input[type=file]", str(tiny))
    page.wait_for_function("() => /1x1 px/.test(document.querySelector('.pad-status').innerText)")
    assert page.evaluate("window.aelabPad.export().drawing") == ""  # nothing drawn, nothing stretched
    good = tmp_path / "four.png"
    Image.fromarray(drawing("four", background="white")).save(good)
    page.set_input_files("#pad input[type=file]", str(good))
    page.wait_for_function("() => /Loaded 400x400/.test(document.querySelector('.pad-status').innerText)")
    assert compare_and_wait(page)["clean_digit"] == 4


def set_size(page, size: float) -> None:
    page.evaluate("(v) => { const s = document.querySelector('#pad label.size input'); s.value = v;"
                  " s.dispatchEvent(new Event('input', {bubbles: true})); }", str(size))


def wait_for_message(page, text: str, timeout: float = 60_000) -> None:
    """Wait until the page shows `text` (the app's messages come as toasts)."""
    page.wait_for_function("(t) => document.body.innerText.includes(t)", arg=text, timeout=timeout)


@pytest.mark.browser
def test_a_typo_in_the_noise_level_is_quoted_back_not_run_as_another_level(page):
    """The level's number box turned "abc" into 0, "0,3" into 1 and "0.3.3" into 0.33, and ran them."""
    draw_seven(page)
    box = page.locator("#level input, #level textarea").first
    for typed, shown in (("0,3", '"0,3" is not a number (write decimals with a point: 0.3)'),
                         ("0.3.3", '"0.3.3" is not a number'), ("99", '"99" is out of range')):
        box.fill(typed)
        page.click("#run")
        wait_for_message(page, shown)
        assert page.locator("#psnr-map").count() == 0   # nothing ran on a value the user did not type
    box.fill("0.3")
    compare_and_wait(page)
    assert "Traceback" not in page.inner_text("body")
    assert page.server_errors == []


@pytest.mark.browser
def test_a_pad_scribbled_edge_to_edge_is_refused_not_inverted(page):
    """Scribbled edge to edge but for a few slits, the drawing was inverted as if it were a
    white-on-black upload, and the models ran on the slits (the judge read "1")."""
    set_size(page, 2)                            # the widest brush
    drag(page, [[(0.01, y), (0.99, y)] for y in np.linspace(0.01, 0.99, 25)])
    ink, clear = page.evaluate(INK_ON_PAD)
    assert clear < 0.02                          # the whole pad inked, border included
    page.click("#pad [data-mode=erase]")
    set_size(page, 0.5)
    drag(page, [[(x, 0.25), (x, 0.75)] for x in (0.35, 0.5, 0.65)])   # three slits, away from the edges
    assert 0.02 < page.evaluate(INK_ON_PAD)[1] < 0.3
    page.click("#run")
    wait_for_message(page, "of the canvas is inked")
    assert page.locator("#psnr-map").count() == 0


@pytest.mark.browser
def test_results_of_an_earlier_input_are_marked_stale_after_a_refusal(page):
    """After a refused input the previous results stayed on screen beside the error, as if current."""
    draw_seven(page)
    compare_and_wait(page)
    assert page.locator("#stale-note").count() == 0
    page.click("#pad [data-act=clear]")
    page.click("#run")
    wait_for_message(page, "The canvas is empty")
    page.wait_for_selector("#stale-note", timeout=30_000)
    assert "previous input" in page.inner_text("#stale-note")
    assert page.evaluate("document.querySelector('#results .panel').classList.contains('stale')")
    assert page.evaluate("document.querySelector('#details .details').classList.contains('stale')")
    draw_seven(page)
    compare_and_wait(page)                       # new results: no longer stale
    assert page.locator("#stale-note").count() == 0 and page.locator("#results .panel.stale").count() == 0


@pytest.mark.browser
def test_results_are_visible_after_compare_on_a_laptop_screen(page):
    """At 1280x900 the results start on the first screen (they once started below the fold)."""
    # Test digit 7: the README's screenshot shows a digit whose posterior the misfit test accepts
    # (test digit 5, an unusual 5, sets off its warning, whose pop-up covers the page's title).
    page.click("#pad .examples button[data-example='7']")
    compare_and_wait(page)
    assert page.evaluate("window.scrollY") == 0
    background = page.evaluate("getComputedStyle(document.querySelector('.latent-map')).backgroundImage")
    assert background.startswith('url("data:image/jpeg;base64,')
    for key in ("ae", "vae", "map"):
        box = page.locator(f"#card-{key}").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 900, (key, box)
    # Reference columns can be hidden.
    assert page.locator("#card-filter").is_visible()
    page.click("#show-refs input")
    page.wait_for_function("() => !document.querySelector('#card-filter').offsetParent")
    if os.environ.get("AELAB_DEMO_SCREENSHOT"):
        page.click("#show-refs input")
        page.wait_for_function("() => !!document.querySelector('#card-filter').offsetParent")
        page.wait_for_timeout(500)
        # The whole page: the pad and its settings, every card, MAP's curve and the latent map.
        for part in ("#card-dncnn", "#details .curve", "#details .latent"):
            box = page.locator(part).bounding_box()
            assert box and box["width"] > 100, part
        page.screenshot(path=os.environ["AELAB_DEMO_SCREENSHOT"], full_page=True)


@pytest.mark.browser
def test_the_demo_is_usable_on_a_phone(browser, app_url):
    """On a 390 px phone: Compare on the first screen, after the pad and the noise controls (they
    were below every result card, far from where the user chooses them), labels above images."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page.goto(app_url)
        page.wait_for_selector("#pad canvas.region", timeout=60_000)
        run = page.locator("#run").bounding_box()
        assert run["y"] + run["height"] <= 844, run  # Compare on the first screen
        for control in ("#pad", "#noise-type", "#level", "#seed"):
            box = page.locator(control).bounding_box()
            assert box["y"] + box["height"] <= run["y"], (control, box, run)
        pad = page.locator("#pad canvas.region").bounding_box()
        assert pad["width"] >= 250 and pad["x"] >= 0 and pad["x"] + pad["width"] <= 390
        page.click("#pad .examples button[data-example='9']")
        compare_and_wait(page)
        for key in ("ae", "map"):
            label = page.locator(f"#card-{key} .label").bounding_box()
            img = page.locator(f"#card-{key} > img").bounding_box()
            assert label["y"] + label["height"] <= img["y"] + 1 and img["x"] + img["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()


@pytest.mark.browser
def test_the_beta_box_shows_only_for_gaussian_noise(page):
    """The "beta validated" box is about Gaussian noise levels only."""
    page.click("text=MAP settings")
    # the accordion opens with an animation: wait for the box (it fails the test if it never shows)
    page.locator("#auto-beta").wait_for(state="visible", timeout=10_000)
    page.click("#noise-type label:has-text('Salt and pepper')")
    page.wait_for_function("() => document.getElementById('auto-beta').style.display === 'none'")
    page.click("#noise-type label:has-text('Gaussian')")
    page.wait_for_function("() => document.getElementById('auto-beta').style.display === ''")


@pytest.mark.browser
def test_the_user_paints_the_region_to_erase(page):
    """Brush-mask inpainting with the pad's second brush. Painting chooses the "Painted region"
    noise (the paint was ignored without a word under Gaussian noise); painted, then another noise
    chosen, the results say the paint is unused."""
    draw_seven(page)
    page.click("#pad [data-mode=region]")
    assert page.is_checked("#noise-type input[value='Gaussian']")
    draw_seven(page, strokes=[[(-0.55, -0.6), (0.55, -0.6)]])  # over the 7's bar
    assert page.is_checked("#noise-type input[value='Painted region']")
    assert "Noise switched to Painted region" in page.inner_text("#pad .pad-status")
    compare_and_wait(page)
    noisy = decode(page.get_attribute("#card-noisy img", "src"))
    erased = (noisy[..., 0] == 150) & (noisy[..., 1] == 30)
    assert 10 < erased.sum() < 400
    assert "MAP" in page.inner_text("#card-map")
    page.click("#noise-type label:has-text('Gaussian')")
    compare_and_wait(page)
    assert "painted region is unused" in page.inner_text("#results .panel")


@pytest.mark.browser
def test_the_pad_has_undo_an_eraser_and_a_brush_size(page):
    """Only Clear existed. Undo steps back over the last stroke (button or Ctrl+Z), the eraser
    removes ink, the size scales the brush; the first stroke still draws."""
    ink = lambda: page.evaluate(INK_ON_PAD)[0]  # noqa: E731
    assert page.is_disabled("#pad [data-act=undo]")
    drag(page, [[(0.3, 0.3), (0.7, 0.3)]])
    thin_stroke = ink()
    assert thin_stroke > 0
    page.click("#pad [data-act=undo]")
    assert ink() == 0 and page.is_disabled("#pad [data-act=undo]")
    set_size(page, 2)
    drag(page, [[(0.3, 0.3), (0.7, 0.3)]])
    assert 1.6 < ink() / thin_stroke < 2.4       # twice the width: about twice the ink
    page.keyboard.press("Control+z")
    assert ink() == 0
    set_size(page, 1)
    draw_seven(page)
    seven = ink()
    page.click("#pad [data-mode=erase]")
    drag(page, [[(0.5, 0.2), (0.5, 0.8)]])        # across the 7's stem and bar
    erased = ink()
    assert 0.5 * seven < erased < 0.97 * seven
    compare_and_wait(page)
    clean_erased = decode(page.get_attribute("#card-clean img", "src")).astype(float)
    page.click("#pad [data-act=undo]")             # the erasing undone: the whole 7 again
    assert abs(ink() - seven) < 1e-6 * seven + 1
    assert compare_and_wait(page)["clean_digit"] == 7
    clean_whole = decode(page.get_attribute("#card-clean img", "src")).astype(float)
    assert not np.array_equal(clean_erased, clean_whole)   # what the models saw had the gap
    page.click("#pad [data-act=clear]")
    page.click("#pad [data-act=undo]")             # Clear can be undone too
    assert abs(ink() - seven) < 1e-6 * seven + 1
