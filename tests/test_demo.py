"""The demo's computing side (demo/inputs.py, noise.py, engine.py, judging.py, panels.py):
preprocessing of synthetic drawings and every bad input, the numbers the user types, the noises,
the denoisers with the shipped models, both judges' readings and when they are unsure or disagree
(with stand-in judges in tests/test_demo_judging.py). The running app (API and browser) is tested in
tests/test_demo_app.py."""
from __future__ import annotations

import base64
import io
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from core import metrics
from demo import inputs, noise
from demo.engine import NOTES, Engine, MethodResult, _psnr, to_uint8
from demo.testing import drawing


def sketch(img, composite=True):
    """A Sketchpad value as Gradio hands it to the function (type="numpy", RGBA)."""
    return {"background": None, "layers": [img], "composite": img if composite else None}


def digit_box(x):
    rows, cols = (x[0, 0] > inputs.INK_THRESHOLD).any(1), (x[0, 0] > inputs.INK_THRESHOLD).any(0)
    return int(rows.sum()), int(cols.sum())


def centre_of_mass(x):
    img, r = x[0, 0], torch.arange(28.0)
    return float((img.sum(1) * r).sum() / img.sum()), float((img.sum(0) * r).sum() / img.sum())


# --- preprocessing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["seven", "one", "zero", "four"])
def test_preprocess_follows_the_mnist_recipe(kind):
    x = inputs.preprocess(sketch(drawing(kind))).x
    assert x.shape == (1, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert max(digit_box(x)) in (20, 21)  # longer side scaled to 20 px (+1 for an anti-aliased edge)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6


def test_preprocess_ignores_where_and_how_big_the_digit_is_drawn():
    base = inputs.preprocess(sketch(drawing("four"))).x
    moved = inputs.preprocess(sketch(drawing("four", offset=(-0.15, 0.1), scale=0.6, width=17))).x
    assert float(metrics.psnr(moved, base)) > 15


def test_composite_none_falls_back_to_the_layers_alpha():
    img = drawing("seven")
    from_composite = inputs.preprocess(sketch(img)).x
    from_layers = inputs.preprocess(sketch(img, composite=False)).x
    assert torch.allclose(from_composite, from_layers, atol=1e-6)
    # Transparent pixels store arbitrary colours: only the alpha may decide what is ink.
    junk = img.copy()
    junk[junk[..., 3] == 0, :3] = 0
    assert torch.allclose(inputs.preprocess(sketch(junk, composite=False)).x, from_layers, atol=1e-6)


def test_every_image_form_gives_the_same_digit(tmp_path):
    rgba = drawing("zero", background="white")
    ref = inputs.preprocess(rgba).x
    grey = np.asarray(Image.fromarray(rgba).convert("L"))
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    for form in (rgba[..., :3], grey, grey.astype(np.float32) / 255, Image.fromarray(rgba).convert("P"),
                 buf.getvalue(), {"background": rgba, "layers": [], "composite": None}):
        assert torch.allclose(inputs.preprocess(form).x, ref, atol=0.02)
    inverted = 255 - grey  # an MNIST-style upload: white digit on black
    assert torch.allclose(inputs.preprocess(inverted).x, ref, atol=0.02)


def test_an_mnist_digit_survives_preprocessing(mnist):
    x, _ = mnist["test"]
    digit = x[:1]
    canvas = 255 - to_uint8(digit, 10)  # black on white, 280x280, as if drawn
    assert float(metrics.psnr(inputs.preprocess(canvas).x, digit)) > 20


@pytest.mark.parametrize("value, message", [
    (None, "No drawing"),
    (sketch(np.zeros((400, 400, 4), np.uint8)), "empty"),
    ({"background": None, "layers": [], "composite": None}, "empty"),
    (np.full((300, 300), 255, np.uint8), "empty"),
    (sketch(drawing("one", width=10, scale=0.02)), "dot"),
    (sketch(drawing("one", width=30, scale=0)), "dot"),   # a wide brush's dot: a 30-px disc
    (sketch(drawing("one", width=70, scale=0)), "dot"),   # and a 70-px one
    (np.zeros((400, 400, 3), np.uint8), "inked"),
    (sketch(np.dstack([np.zeros((400, 400, 3), np.uint8), np.full((400, 400), 255, np.uint8)])), "inked"),
    (np.zeros((8, 8), np.uint8), "8x8 px"),
    (np.zeros((10, 5000), np.uint8), "px"),
    (np.zeros((100, 100, 5), np.uint8), "shape"),
    (np.zeros((100,), np.uint8), "shape"),
    (np.zeros((100, 100), np.complex64), "pixel type"),
    (np.full((100, 100), np.nan, np.float32), "NaN"),
    (np.full((100, 100), 1000.0), "range"),
    (42, "must be an image"),
    ("/nonexistent/drawing.png", "not as a file name"),
    ({"background": None, "layers": "abc", "composite": None}, "list"),
    ({"foo": 1}, "Unexpected"),
    ({"background": None, "layers": [np.zeros((50, 50, 4), np.uint8), np.zeros((60, 60, 4), np.uint8)],
      "composite": None}, "different sizes"),
])
def test_bad_drawings_raise_clear_errors(value, message):
    with pytest.raises(inputs.InputError, match=message):
        inputs.preprocess(value)


def test_a_small_digit_is_not_mistaken_for_a_dot():
    assert inputs.preprocess(sketch(drawing("one", width=16, scale=0.16))).x.max() > 0.5


def test_an_oversized_upload_is_refused_with_its_size():
    buf = io.BytesIO()
    Image.new("L", (3000, 2500), 255).save(buf, format="PNG")  # a few kB encoded
    with pytest.raises(inputs.InputError, match="3000x2500 px"):
        inputs.preprocess(buf.getvalue())


def test_no_input_is_ever_read_from_a_server_path(tmp_path):
    """A string that is not a data URL is refused with one message whatever it names (an image on
    the server, a text file, a folder, nothing), in every place an image can come in: the API
    cannot read server files or tell which exist."""
    server_png = tmp_path / "seven.png"
    Image.fromarray(drawing("seven", background="white")).save(server_png)
    seven = data_url(drawing("seven", background="white"))
    forms = [lambda p: inputs.preprocess(p),
             lambda p: inputs.preprocess({"background": None, "layers": [p], "composite": None}),
             lambda p: inputs.preprocess({"background": p, "layers": [], "composite": None}),
             lambda p: inputs.preprocess({"composite": p}),
             lambda p: inputs.preprocess(seven, region=p)]
    for form in forms:
        messages = set()
        for path in (str(server_png), "/etc/passwd", "/etc/does-not-exist", "/root", str(tmp_path),
                     "seven.png", "file:///etc/passwd", server_png):
            with pytest.raises(inputs.InputError) as err:
                form(path)
            assert str(path) not in str(err.value) and "seven.png" not in str(err.value)
            messages.add(str(err.value))
        assert len(messages) == 1, messages  # nothing tells an existing file from a missing one


def test_a_drawing_touching_the_edge_warns():
    img = drawing("one", offset=(0, 0.2), scale=1.3)
    assert any("edge" in w for w in inputs.preprocess(sketch(img)).warnings)
    assert inputs.preprocess(sketch(drawing("one"))).warnings == []


# --- noise ---------------------------------------------------------------------------------------

def test_noise_types_levels_and_seeds():
    from core.data import add_noise

    x = inputs.preprocess(sketch(drawing("seven"))).x
    gauss, mask = noise.corrupt(x, "Gaussian", 0.3, 7)
    assert mask is None and torch.equal(gauss, add_noise(x, 0.3, 7))
    assert torch.equal(noise.corrupt(x, "gaussian", 0.3, 7)[0], gauss)
    assert not torch.equal(noise.corrupt(x, "Gaussian", 0.3, 8)[0], gauss)
    sp, _ = noise.corrupt(x, "Salt and pepper", 0.4, 0)
    changed = (sp != x).float().mean()
    assert 0.1 < changed < 0.4 and set(sp[sp != x].unique().tolist()) <= {0.0, 1.0}
    block, mask = noise.corrupt(x, "Erased block", 0.5, 3)
    assert int((mask == 0).sum()) == 10 * 10 and torch.all(block[mask == 0] == 0)
    hole = (mask[0, 0] == 0).nonzero()
    ink = (x[0, 0] > inputs.INK_THRESHOLD).nonzero()
    assert (hole.min(0).values >= ink.min(0).values).all() and (hole.max(0).values <= ink.max(0).values).all()
    assert torch.equal(noise.corrupt(x, "Erased block", 0.5, 3)[1], mask)
    assert torch.equal(noise.corrupt(x, "Gaussian", 0, 0)[0], x)


@pytest.mark.parametrize("kind, level, seed, message", [
    ("Gaussian", -0.1, 0, "Noise level"), ("Gaussian", 1.5, 0, "Noise level"),
    ("Gaussian", float("nan"), 0, "Noise level"), ("Gaussian", "lots", 0, "number"),
    ("Gaussian", None, 0, "empty"), ("Gaussian", 0.5, -1, "seed"), ("Gaussian", 0.5, 2**40, "seed"),
    ("Gaussian", 0.5, 1.5, "whole"), ("Poisson", 0.5, 0, "Unknown noise"),
    (["Gaussian"], 0.5, 0, "noise type must be one of"),
])
def test_bad_noise_settings_raise_clear_errors(kind, level, seed, message):
    x = torch.zeros(1, 1, 28, 28)
    with pytest.raises(inputs.InputError, match=message):
        noise.corrupt(x, kind, level, seed)


@pytest.mark.parametrize("typed, integer, message", [
    ("abc", False, '"abc" is not a number'), ("0,3", False, "write decimals with a point: 0.3"),
    ("0.3.3", False, '"0.3.3" is not a number'), ("99", False, '"99" is out of range'),
    (99, False, '"99" is out of range'), ("", False, "is empty"), ("nan", False, '"nan" is not a number'),
    ("1_0", False, '"1_0" is not a number'), ("x", True, '"x" is not a number'),
    ("1e12", True, '"1e12" is out of range'), ("2.5", True, '"2.5" is not a whole number'),
    (2.5, True, '"2.5" is not a whole number'), (None, True, "is empty"), (True, True, "not bool"),
])
def test_a_typed_number_that_is_not_one_in_range_is_quoted_back_with_the_range(typed, integer, message):
    """Nothing typed is rounded, clamped or read as another number: "0,3" was read as 1, "0.3.3" as
    0.33, "1e12" as 12, "2.5" as 2. The message quotes what was typed and says the range."""
    hi = noise.MAX_SEED if integer else 1
    with pytest.raises(inputs.InputError, match=re.escape(message)) as err:
        noise.parse_number(typed, "Noise level", 0, hi, integer=integer)
    assert f"from 0 to {hi}" in str(err.value)


def test_typed_numbers_in_range_are_read_exactly():
    assert noise.parse_number(" 0.35 ", "Noise level", 0, 1) == 0.35
    assert noise.parse_number(".5", "Noise level", 0, 1) == 0.5
    assert noise.parse_number("1e-1", "Noise level", 0, 1) == 0.1
    assert noise.parse_number("12", "Noise seed", 0, noise.MAX_SEED, integer=True) == 12
    assert noise.parse_number(7, "Noise seed", 0, noise.MAX_SEED, integer=True) == 7
    long = "9" * 5000
    with pytest.raises(inputs.InputError) as err:
        noise.parse_number(long, "Noise seed", 0, noise.MAX_SEED, integer=True)
    assert len(str(err.value)) < 200   # what was typed is quoted, cut short


# --- the three denoisers and the map, with the shipped models --------------------------------------

@pytest.fixture(scope="module")
def engine():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the app: on a shared 2-core box, one thread per request is fastest
    yield Engine.load()
    torch.set_num_threads(threads)


def test_compare_runs_the_three_denoisers(engine):
    c = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    assert list(c.results)[:4] == list(engine.methods) == ["ae", "vae", "map", "posterior"]
    for r in c.results.values():
        assert r.x_hat.shape == (1, 1, 28, 28) and np.isfinite(r.psnr) and r.ms > 0
    # A denoiser that understood the digit beats the noisy input (the whole point of the demo).
    assert max(r.psnr for r in c.results.values()) > c.noisy_psnr
    assert c.loss_history.shape == (engine.default_steps + 1,)
    assert c.loss_history[-1] <= c.loss_history[0]
    numbers = c.numbers()
    assert set(numbers) >= {"noisy_psnr", "ae", "vae", "map", "total_ms"}


def test_the_posterior_sits_beside_map_with_its_uncertainty_and_digits(engine):
    c = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    p = c.posterior
    assert p.mean.shape == p.std.shape == (1, 28, 28) and p.draws.shape == (4, 1, 28, 28)
    assert torch.allclose(c.results["posterior"].x_hat[0], p.mean)
    assert max(p.label_probs, key=p.label_probs.get) == str(c.clean_reading.digit)
    assert not p.flagged and p.warning not in c.warnings
    assert p.std.max() > 0.01  # the strokes' uncertainty shows
    erased = engine.compare(sketch(drawing("zero")), "Erased block", 0.6, 1)
    assert erased.posterior is not None and erased.posterior.threshold is None  # no calibrated flag for masks


def test_the_posterior_can_follow_the_other_cards(engine):
    """The page shows every card but the posterior's first (its sampling is the slowest part), with
    the posterior's place kept, then adds it: the same posterior as in one call, in MAP's order."""
    from demo import panels

    first = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0, posterior=False)
    assert first.pending is not None and first.posterior is None and "posterior" not in first.results
    page = panels.results_html(first, panels.image_urls(first), 1.0)
    assert page.count('class="card pending" id="card-posterior"') == 1 and 'id="psnr-posterior"' not in page
    assert page.index('id="card-map"') < page.index('id="card-posterior"') < page.index('id="card-filter"')
    done = engine.finish_posterior(first)
    assert done is first and done.pending is None and "card pending" not in panels.results_html(
        done, panels.image_urls(done), 1.0, 2.0)
    assert list(done.results)[:4] == ["ae", "vae", "map", "posterior"]
    whole = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    assert torch.equal(done.results["posterior"].x_hat, whole.results["posterior"].x_hat)
    assert done.results["posterior"].reading == whole.results["posterior"].reading
    assert engine.finish_posterior(done).results.keys() == done.results.keys()   # nothing pending: no change


def test_the_posterior_warns_on_an_image_that_is_not_a_digit(engine):
    from core import data
    from core.denoising.posterior import nondigits

    if engine.misfit_calibration is None:
        pytest.skip("needs the misfit calibration (python -m core.denoising.posterior.single --ship)")
    noisy = data.add_noise(nondigits.patches(1), 0.5, seed=0)
    found = engine._map(noisy, "gaussian", 0.5, None, engine.beta_for("Gaussian", 0.5), engine.default_steps, 0)
    post = engine._posterior(noisy, "gaussian", 0.5, found, engine.beta_for("Gaussian", 0.5), 0)
    assert post.flagged and post.misfit > post.threshold and "does not look like a digit" in post.warning


def test_map_uses_the_inpainting_mask_and_the_sliders(engine):
    c = engine.compare(sketch(drawing("zero")), "Erased block", 0.6, 1, beta=engine.default_beta, steps=5)
    assert c.mask is not None and c.loss_history.shape == (6,) and c.z_path.shape[0] == 6


@pytest.mark.parametrize("beta, steps, message", [
    (-1, None, "beta"), (float("inf"), None, "beta"), (1e12, None, "beta"),
    (None, 0, "steps"), (None, 10**7, "steps"), (None, 2.5, "whole"), (None, "many", "number"),
])
def test_extreme_map_settings_raise_clear_errors(engine, beta, steps, message):
    with pytest.raises(inputs.InputError, match=message):
        engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0, beta=beta, steps=steps)


def test_a_damaged_latent_map_cache_is_recomputed(engine, tmp_path, monkeypatch, mnist):
    from core import cache, paths
    from demo import latent_map

    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path)
    name = engine.latent_map.name
    damaged = cache.entry(f"demo-latent-{name}", [name])
    assert damaged.parent == tmp_path
    damaged.write_bytes(b"half a file")
    assert torch.equal(latent_map.LatentMap.load().z, engine.latent_map.z)
    assert torch.equal(torch.load(damaged, weights_only=True)["z"], engine.latent_map.z)


def test_latent_map_marks_the_digit_and_the_map_path(engine):
    import re

    c = engine.compare(sketch(drawing("one")), "Gaussian", 0.3, 0)
    lm = engine.latent_map
    points, path = lm.positions(c)
    assert set(points) == {"clean", "noisy", "ae", "vae", "map"} and path.shape[1] == 2
    assert 2 <= len(path) <= 40
    svg, numbers = engine.latent(c)
    height, width = lm.base.shape[:2]
    assert f'viewBox="0 0 {width} {height}"' in svg and "<polyline" in svg
    for key, z in points.items():  # each marker where the map's axes put its point
        m = re.search(rf'data-key="{key}" data-x="([-\d.]+)" data-y="([-\d.]+)"', svg)
        assert np.allclose([float(m[1]), float(m[2])], lm.pixel(z[None])[0], atol=0.06), key
    assert np.allclose(numbers["clean"], points["clean"], atol=1e-4) and len(numbers["map_path"]) == len(path)
    l, t, r, b = lm._box
    corners = lm.pixel(np.array([[lm.limits[0], lm.limits[3]], [lm.limits[1], lm.limits[2]]]))
    assert np.allclose(corners, [[l, t], [r, b]], atol=1)
    # The image under the overlay is sent once, with its legend drawn in the right margin only.
    url = lm.background_url()
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (width, height)
    changed = np.abs(lm.base.astype(int) - lm.background.astype(int)).sum(2) > 0
    assert changed.any() and not changed[:, : int(r) + 1].any()
    assert len(svg) < 8000  # what each request sends instead of an 80 kB image


# --- inputs that once got through or got the wrong message ------------------------------------------

def data_url(array) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def scribble(size=280, seed=0):
    """A canvas scribbled edge to edge: thick random strokes over the whole pad (ink on ~70%)."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        draw.line([tuple(rng.integers(-20, size + 20, 2)) for _ in range(2)], fill=(0, 0, 0, 255), width=30)
    return np.asarray(img).copy()


def test_a_canvas_scribbled_edge_to_edge_is_refused_not_inverted():
    img = scribble()
    assert (img[..., 3] > 0).mean() > 0.5
    for value in (sketch(img), sketch(img, composite=False), data_url(img)):
        with pytest.raises(inputs.InputError, match="inked"):
            inputs.preprocess(value)
    # An MNIST-style upload (white digit on a solid black ground) is still inverted and accepted.
    white_on_black = 255 - np.asarray(Image.fromarray(drawing("zero", background="white")).convert("L"))
    assert inputs.preprocess(data_url(white_on_black)).x.max() > 0.5


def slits(size=280):
    """Ink edge to edge on a transparent pad but for three thin vertical slits: its border is all ink."""
    img = np.zeros((size, size, 4), np.uint8)
    img[..., 3] = 255
    for c in (100, 140, 180):
        img[40:240, c:c + 6, 3] = 0
    return img


def test_a_drawing_is_never_inverted_only_an_opaque_picture_is():
    """The pad sends strokes on a transparent ground: scribbled edge to edge with a few slits left
    white, its border is all ink, which once made it "an MNIST-style upload", inverted, and the
    models ran on the slits. A drawing is never inverted; the same pixels as an opaque picture
    (an upload) are read white on black, MNIST's way."""
    img = slits()
    border = np.concatenate([img[0, :, 3], img[-1, :, 3], img[:, 0, 3], img[:, -1, 3]])
    assert (border == 255).all()
    for value in (data_url(img), sketch(img), sketch(img, composite=False), img):
        with pytest.raises(inputs.InputError, match="inked"):
            inputs.preprocess(value)
    flat = Image.alpha_composite(Image.new("RGBA", img.shape[1::-1], "white"), Image.fromarray(img))
    upload = np.asarray(flat.convert("RGB"))   # the same pixels flattened on white: an opaque picture
    picture = inputs.preprocess(data_url(upload)).x
    assert 0 < float((picture > 0.5).float().mean()) < 0.3   # the slits, as light strokes on black
    # An opaque RGBA picture counts as opaque; one transparent pixel makes it a drawing.
    rgba = np.dstack([upload, np.full(upload.shape[:2], 255, np.uint8)])
    assert torch.equal(inputs.preprocess(data_url(rgba)).x, picture)
    rgba[5, 5, 3] = 0
    with pytest.raises(inputs.InputError, match="inked"):
        inputs.preprocess(data_url(rgba))


@pytest.mark.parametrize("content, name", [
    (b"just some text, not a picture\n", "notes.txt"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "scan.pdf"),
    (None, "truncated.png"),
])
def test_a_file_that_is_not_an_image_says_so(tmp_path, content, name):
    if content is None:  # a real PNG cut in the middle of its pixel data
        buf = io.BytesIO()
        Image.fromarray(drawing("seven")).save(buf, format="PNG")
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    url = "data:image/png;base64," + base64.b64encode(content).decode()
    for value in (content, url):
        with pytest.raises(inputs.InputError, match="not an image") as err:
            inputs.preprocess(value)
        assert "empty" not in str(err.value)


def test_data_urls_are_checked_without_echoing_them():
    assert torch.allclose(inputs.preprocess(data_url(drawing("seven", background="white"))).x,
                          inputs.preprocess(sketch(drawing("seven"))).x, atol=0.02)
    huge = "data:image/png;base64," + "A" * (inputs.MAX_DATA_URL_CHARS + 10)
    for bad, message in [(huge, "MB"), ("data:image/png;base64,@@@@", "not an image"),
                         ("data:text/plain,hello", "data:image/png;base64")]:
        with pytest.raises(inputs.InputError, match=message) as err:
            inputs.preprocess(bad)
        assert len(str(err.value)) < 200


def png_of_size(w: int, h: int) -> bytes:
    """A blank PNG of w x h (1 bit per pixel, so even 10000 x 10000 encodes to a few kB)."""
    buf = io.BytesIO()
    Image.new("1", (w, h), 1).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("side", [3000, 10000])
def test_a_huge_image_is_too_large_not_not_an_image(side, monkeypatch):
    """With the app's Pillow limit (MAX_SIDE² pixels, its warning an error), Pillow's
    decompression-bomb check fires before the size check and was reported as "not an image"."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", inputs.MAX_SIDE ** 2)
    url = "data:image/png;base64," + base64.b64encode(png_of_size(side, side)).decode()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for value in (url, png_of_size(side, side)):
            with pytest.raises(inputs.InputError, match="too large") as err:
                inputs.preprocess(value)
            assert f"at most {inputs.MAX_SIDE}x{inputs.MAX_SIDE}" in str(err.value)
            assert "not an image" not in str(err.value)
    # With Pillow's default limit, the size check reads the header first and names the size.
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(inputs.InputError, match=f"{side}x{side} px; drawings must be"):
            inputs.preprocess(url)


def test_a_5000_px_image_gets_the_size_message_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (5000, 40), 255).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    with pytest.raises(inputs.InputError, match="5000x40 px; drawings must be"):
        inputs.preprocess(url)


def test_an_erased_block_at_level_1_says_the_task_is_impossible():
    x = inputs.preprocess(sketch(drawing("four"))).x
    for level in (1.0, 0.95):
        with pytest.raises(inputs.InputError, match="impossible"):
            noise.corrupt(x, "Erased block", level, 0)
    noisy, mask = noise.corrupt(x, "Erased block", 0.5, 0)  # a half-size block leaves a digit to recover
    assert float((noisy * mask).sum()) > 0.2 * float(x.sum())


# --- a painted region to erase (brush-mask inpainting) ---------------------------------------------

def test_the_painted_region_follows_the_drawing_into_the_28x28_frame():
    img = drawing("seven", background="white")
    region = np.zeros((400, 400, 4), np.uint8)
    region[200:, :, 3] = 255          # paint the lower half of the canvas
    p = inputs.preprocess(data_url(img), region=data_url(region))
    cover = p.region[0, 0]
    rows = (cover >= 0.5).any(1).nonzero().flatten()
    ink_rows = (p.x[0, 0] > inputs.INK_THRESHOLD).any(1).nonzero().flatten()
    middle = (ink_rows.min() + ink_rows.max()) / 2
    assert abs(float(rows.min()) - float(middle)) <= 2   # canvas row 200 = the 7's middle (box 80..320)
    noisy, mask = noise.corrupt(p.x, "Painted region", 0.5, 0, p.region)
    assert torch.equal(mask[0, 0] == 0, cover >= 0.5) and torch.all(noisy[mask == 0] == 0)
    with pytest.raises(inputs.InputError, match="nothing is painted"):
        noise.corrupt(p.x, "Painted region", 0.5, 0, torch.zeros_like(p.region))
    everything = np.zeros((400, 400, 4), np.uint8)
    everything[..., 3] = 255
    full = inputs.preprocess(data_url(img), region=data_url(everything)).region
    with pytest.raises(inputs.InputError, match="impossible"):
        noise.corrupt(p.x, "Painted region", 0.5, 0, full)


def test_map_inpaints_the_painted_region(engine):
    region = np.zeros((400, 400, 4), np.uint8)
    region[60:200, 200:360, 3] = 255  # the right end of the 7's bar
    c = engine.compare(data_url(drawing("seven", background="white")), "Painted region", 0.5, 0,
                       region=data_url(region))
    assert c.settings["noise"] == "region" and c.mask is not None and (c.mask == 0).any()
    hole = c.mask == 0
    # MAP puts ink back where the stroke was erased; the noisy input has none there.
    assert float(c.results["map"].x_hat[hole].sum()) > 0.3 * float(c.clean[hole].sum()) > 0
    assert float(c.noisy[hole].sum()) == 0


# --- each denoiser at its best, and is it still my digit? -----------------------------------------

@pytest.mark.slow
def test_map_uses_the_likelihood_of_the_noise_and_beats_the_plain_one(engine, mnist):
    """Clipping-aware MAP for Gaussian noise, impulses-as-missing for salt and pepper: better PSNR
    than the plain objective of A8 on test digits (same beta, steps, restarts and seeds)."""
    from core.denoising import denoise

    x = mnist["test"][0][:8]
    vae = engine.denoisers.vae
    for kind, level in [("Gaussian", 0.5), ("Salt and pepper", 0.3)]:
        beta = engine.beta_for(kind, level)
        ours, plain = [], []
        for i in range(len(x)):
            clean = x[i:i + 1]
            noisy, _ = noise.corrupt(clean, kind, level, i)
            ours.append(_psnr(engine._map(noisy, noise.noise_kind(kind), level, None, beta,
                                              engine.default_steps, i).x_hat, clean))
            with torch.inference_mode():
                init = vae.encode(noisy).float().clone()
            plain.append(_psnr(denoise.map_estimate(vae.decode, noisy, beta=beta, steps=engine.default_steps,
                                                        restarts=engine.default_restarts, seed=i, init=init).x_hat, clean))
        assert np.mean(ours) > np.mean(plain) + 0.5, (kind, np.mean(ours), np.mean(plain))
    from core.denoising.defaults import MapDefaults

    c = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    assert c.settings["map_likelihood"] == "clipping-aware"
    validated = MapDefaults.read().beta_for(0.5, clip_aware=True)   # the beta chosen for that objective
    assert c.settings["beta"] == engine.beta_for("Gaussian", 0.5) == float(f"{validated:.4g}")


def test_every_output_has_the_judges_reading_and_a_mark_when_it_differs(engine):
    from core.denoising import judge

    c = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    assert c.clean_reading is not None and c.clean_reading.digit == 7 and c.clean_reading.sure
    assert {"ae", "vae", "map", "filter"} <= set(c.results)
    assert set(engine.judging.unsure_below) == set(judge.NAMES) == set(c.unsure_below)
    for key, r in c.results.items():
        assert tuple(j.name for j in r.reading.judges) == judge.NAMES
        for j in r.reading.judges:   # each judge against its own threshold
            assert 0 <= j.digit <= 9 and 0 < j.confidence <= 1 and j.sure == (j.confidence >= c.unsure_below[j.name])
        named = {j.digit for j in r.reading.judges}
        assert r.reading.sure == (len(named) == 1 and all(j.sure for j in r.reading.judges))
        assert r.reading.confidence == min(j.confidence for j in r.reading.judges)
        assert c.differs(key) == (r.reading.sure and r.reading.digit != 7)
    n = c.numbers()
    assert n["map"]["reading"]["digit"] == c.results["map"].reading[0] and n["clean_reading"]["digit"] == 7
    assert n["clean_reading"]["verdict"] == "sure" and set(n["clean_reading"]["judges"]) == set(judge.NAMES)
    assert all(n["clean_reading"]["judges"][name]["digit"] == 7 for name in judge.NAMES)
    assert n["ae"]["differs"] == c.differs("ae")
    assert all(note for note in NOTES.values()) and set(NOTES) == {"ae", "vae"}


def test_the_best_classical_filter_is_a_reference_column(engine):
    c = engine.compare(sketch(drawing("zero")), "Salt and pepper", 0.3, 0)
    assert c.results["filter"].psnr > c.noisy_psnr + 3  # a median filter is what salt and pepper needs


def test_the_references_and_readings_are_the_scoreboards(engine):
    """The reference columns are the scoreboard's best validated filter and its learned net, the
    readings its judge; each reference only on the noise it was tuned or trained for."""
    from core.denoising import baselines, judge
    from core.models import checkpoints

    c = engine.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
    method, _, fn = baselines.best_filter(0.5)
    assert torch.allclose(c.results["filter"].x_hat, fn(c.noisy).clamp(0, 1))
    assert c.results["filter"].what.startswith(baselines.LABELS[method])
    assert torch.allclose(c.results["dncnn"].x_hat, checkpoints.load("dncnn").denoise(c.noisy))
    images = torch.cat([c.clean] + [r.x_hat for r in c.results.values()])
    readings = [c.clean_reading] + [r.reading for r in c.results.values()]
    for i, name in enumerate(judge.NAMES):   # every judge of the scoreboard, in its order
        labels, confidences = judge.read(images, name)
        assert [r.judges[i].digit for r in readings] == labels.tolist()
        assert np.allclose([r.judges[i].confidence for r in readings], confidences.numpy(), atol=1e-6)
    sp = engine.compare(sketch(drawing("seven")), "Salt and pepper", 0.2, 0)
    method, _, fn = baselines.best_filter(0.2, "salt_pepper")
    assert torch.allclose(sp.results["filter"].x_hat, fn(sp.noisy).clamp(0, 1)) and "dncnn" not in sp.results
    block = engine.compare(sketch(drawing("seven")), "Erased block", 0.5, 0)
    assert not {"filter", "dncnn"} & set(block.results)


def test_map_alternatives_are_the_best_restarts_that_read_as_other_digits(engine, mnist):
    """Fed every restart (core.denoising.denoise's all_restarts): the alternatives are the lowest-objective
    restarts whose decoded image both judges surely read as a digit not shown yet."""
    from types import SimpleNamespace

    x, y = mnist["test"]
    x = x[:200]
    with torch.inference_mode():
        decoded = engine.denoisers.vae.decode(engine.denoisers.vae.encode(x).float()).clamp(0, 1)
    read = torch.tensor([r.digit if r.sure else -1 for r in engine.read(decoded)])
    # Test digits whose decoded mean both judges surely read as that digit (not every one is).
    picks = [int((read == d).nonzero()[i]) for d, i in ((3, 0), (3, 1), (5, 0), (8, 0), (5, 1), (1, 0))]
    with torch.inference_mode():
        z = engine.denoisers.vae.encode(x[picks]).float()
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    out = SimpleNamespace(restart_losses=losses[None, :, None], restart_z=z[None, :, None, :])
    best = MethodResult(x[picks[0]][None], 0.0, 0.0, (3, 0.9))
    alternatives = engine._alternatives(out, best, x[picks[0]][None])
    assert [a.reading[0] for a in alternatives] == [5, 8]  # best two other digits, in objective order
    assert all(a.x_hat.shape == (1, 1, 28, 28) for a in alternatives)


# --- a painted region with another noise, and the judge when it is unsure ---------------------------

def test_a_painted_region_with_another_noise_is_said_to_be_unused(engine):
    """The paint was ignored without a word when the noise was not "Painted region"."""
    region = np.zeros((400, 400, 4), np.uint8)
    region[60:200, 200:360, 3] = 255
    seven = data_url(drawing("seven", background="white"))
    c = engine.compare(seven, "Gaussian", 0.3, 0, region=data_url(region), with_references=False)
    assert c.mask is None and any("painted region is unused" in w and "Gaussian" in w for w in c.warnings)
    plain = engine.compare(seven, "Gaussian", 0.3, 0, with_references=False)
    assert not any("unused" in w for w in plain.warnings)


def test_the_unsure_threshold_follows_the_calibration_curve():
    from demo.judging import unsure_threshold

    rng = np.random.default_rng(0)
    conf = rng.uniform(0.1, 1, 20_000)
    calibrated = rng.uniform(size=conf.size) < conf            # right with probability = confidence
    assert abs(unsure_threshold(conf, calibrated) - 0.5) < 0.05
    overconfident = rng.uniform(size=conf.size) < conf - 0.2   # right less often than it claims
    assert abs(unsure_threshold(conf, overconfident) - 0.7) < 0.05
    assert unsure_threshold(conf, np.ones(conf.size, bool)) == conf.min()   # never wrong: always sure
    assert unsure_threshold(conf, np.zeros(conf.size, bool)) == 1.0         # never right: never sure


def test_the_judge_is_calibrated_on_validation_images_never_test_images(monkeypatch):
    from core import data
    from core.training.train import validation_split
    from demo import judging

    splits, real = [], data.load_mnist
    monkeypatch.setattr(data, "load_mnist", lambda split, *a, **k: splits.append(split) or real(split, *a, **k))

    class ReadsZero:   # a stand-in judge: every image is a 0, at 50 %
        def read(self, x):
            return torch.zeros(len(x), dtype=torch.long), torch.full((len(x),), 0.5)

    out = judging.measure(ReadsZero(), n=60)
    assert splits == ["train"] and len(out["confidence"]) == 60 * len(judging.validation_conditions(torch.zeros(1, 1, 28, 28)))
    _, idx = validation_split(60_000, 60)
    zeros = float((real("train")[1][idx] == 0).float().mean())
    assert abs(float(out["correct"].float().mean()) - zeros) < 1e-6   # scored against those images' labels


def test_each_judges_calibration_is_shipped_for_its_weights():
    """Measuring one takes up to a minute on one core: a fresh clone's demo reads the shipped copies,
    one per judge, each keyed by that judge's name and weights."""
    from core import cache, paths
    from core.denoising import judge
    from demo import judging, references

    names = set()
    for name in judge.NAMES:
        job = judging.calibration_job(references.load_judge(name=name), name)
        target = cache.entry(job["tag"], job["depends_on"], job["params"])
        assert (paths.SHIPPED_CACHE_DIR / target.name).exists(), f"run python -m demo.judging --ship ({name})"
        names.add(target.name)
    assert len(names) == len(judge.NAMES)


def test_an_unsure_clean_reading_names_no_digit_and_marks_no_output(engine):
    """A dash read "0" at 37 % became "your 0", and outputs were marked "≠ your 0". Below a judge's
    calibrated threshold the clean card says the judges are unsure, and no output differs from it:
    one doubtful judge is enough."""
    import copy

    from demo import panels
    from demo.judging import Judging

    assert all(0.2 < t < 0.8 for t in engine.judging.unsure_below.values())
    doubtful = copy.copy(engine)   # the last judge never sure (every reading below its threshold)
    doubtful.judging = Judging(engine.judging.models, {**engine.judging.unsure_below, engine.judging.names[-1]: 1.01})
    for e in (engine, doubtful):
        c = e.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0)
        page = panels.results_html(c, panels.image_urls(c), 1.0)
        sure = e is engine
        assert c.clean_reading.sure == sure and c.numbers()["clean_reading"]["sure"] == sure
        assert (panels.UNSURE in page) != sure and ("reads <b>7</b>" in page.split('id="card-noisy"')[0]) == sure
        if not sure:
            assert not any(c.differs(k) for k in c.results) and 'class="differs"' not in page
            assert not any(c.numbers()[k]["differs"] for k in c.results)
    # A wavy scribble the shipped judge cannot place: it says so.
    wave = [[(0.2 + 0.6 * t, 0.5 + 0.1 * np.sin(12 * t)) for t in np.linspace(0, 1, 30)]]
    from demo import testing

    testing.STROKES["wave"] = wave
    try:
        c = engine.compare(sketch(drawing("wave", width=10)), "Gaussian", 0.3, 0, with_references=False)
    finally:
        del testing.STROKES["wave"]
    assert not c.clean_reading.sure
    assert any(j.confidence < engine.judging.unsure_below[j.name] - 0.1 for j in c.clean_reading.judges)
    assert not any(c.differs(k) for k in c.results)


def test_an_output_is_marked_only_where_both_judges_read_another_digit(engine):
    """Stand-in judges read the clean drawing (first in the engine's one batch) as one digit and every
    output and MAP restart as another: "≠ your 7" only where both name that other digit."""
    import copy

    from core.denoising import judge
    from demo import panels
    from demo.judging import Judging

    class Reads:   # image 0 as `clean`, every other image as `other`, at 90 %
        def __init__(self, clean, other):
            self.clean, self.other = clean, other

        def read(self, x):
            digits = torch.full((len(x),), self.other)
            digits[0] = self.clean
            return digits, torch.full((len(x),), 0.9)

    def compare(convnet, mlp):
        e = copy.copy(engine)
        e.judging = Judging(dict(zip(judge.NAMES, (Reads(*convnet), Reads(*mlp)))), dict.fromkeys(judge.NAMES, 0.5))
        c = e.compare(sketch(drawing("seven")), "Gaussian", 0.5, 0, with_references=False)
        return c, panels.results_html(c, panels.image_urls(c), 1.0), c.numbers()

    c, page, n = compare((7, 3), (7, 3))   # both: the outputs are a 3
    assert all(c.differs(k) for k in c.results) and page.count("≠ your 7") == len(c.results)
    assert n["map"]["reading"]["verdict"] == "sure" and n["map"]["differs"]
    assert not c.alternatives   # every restart reads as MAP's own answer
    c, page, n = compare((7, 3), (7, 7))   # they disagree on every output
    assert not any(c.differs(k) for k in c.results) and "≠" not in page and not c.alternatives
    assert page.count(f"{panels.DISAGREE}: convnet 3, MLP 7") == len(c.results)
    assert n["map"]["reading"]["verdict"] == "disagree" and not n["map"]["differs"]
    assert {name: v["digit"] for name, v in n["map"]["reading"]["judges"].items()} == dict(zip(judge.NAMES, (3, 7)))
    c, page, n = compare((7, 3), (5, 3))   # they disagree on the drawing: nothing to differ from
    assert n["clean_reading"]["verdict"] == "disagree" and not any(c.differs(k) for k in c.results)
    assert f"{panels.DISAGREE}: convnet 7, MLP 5" in page.split('id="card-noisy"')[0] and "≠" not in page


def test_map_alternatives_are_restarts_both_judges_surely_read(engine):
    """A restart the judges disagree on, or are unsure of, is never offered as "another digit"."""
    from core.denoising import judge
    from demo.judging import JudgeReading, combine

    def reading(convnet, mlp, sure=True):
        return combine([JudgeReading(judge.NAMES[0], convnet, 0.9, True), JudgeReading(judge.NAMES[1], mlp, 0.9, sure)])

    images = torch.rand(5, 1, 28, 28)
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    readings = [reading(5, 8), reading(8, 8, sure=False), reading(3, 3), reading(2, 2), reading(6, 6)]
    best = MethodResult(images[:1], 0.0, 0.0, reading(3, 3))
    alternatives = engine._alternatives(None, best, images[:1], (losses, images), readings)
    assert [a.reading.digit for a in alternatives] == [2, 6]   # the disagreement and the unsure 8 skipped
    assert all(a.reading.sure for a in alternatives)
