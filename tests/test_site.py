"""The website around the chapters, checked without Quarto (it cannot be installed here): the
sidebar, a clean checkout after rendering, reading offline, reading comfort, what a course site
offers (notebooks, source, a landing page), and `make report` on a fresh machine.

Quarto ignores option names it does not know, so these read _quarto.yml for the names Quarto
documents (HTML Basics, HTML Code Blocks, Including Other Formats, Project options)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import chapter_runner as qmd
import pytest
import yaml

ROOT = qmd.PROJECT_ROOT
CONFIG = yaml.safe_load((ROOT / "_quarto.yml").read_text())
HTML = CONFIG["format"]["html"]
INDEX = (qmd.REPORT_DIR / "index.qmd").read_text()


def _front_matter(chapter: Path) -> dict:
    return yaml.safe_load(chapter.read_text().split("---\n", 2)[1])


def _entries(contents) -> list[str]:
    """Every page a sidebar `contents` names, through its sections."""
    found = []
    for item in contents if isinstance(contents, list) else [contents]:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found += [item["href"]] if "href" in item else []
            found += _entries(item.get("contents", []))
    return found


# 1. Sidebar ----------------------------------------------------------------------------------

def test_sidebar_lists_every_chapter_by_file():
    """A glob makes Quarto group its pages under their folder ("Report") instead of showing their
    titles, so every chapter is listed by its own file, once."""
    entries = _entries(CONFIG["website"]["sidebar"]["contents"])
    globs = [e for e in entries if any(c in e for c in "*?[")]
    assert not globs, f"glob entries in the sidebar: {globs}"
    assert sorted(entries) == sorted(f"report/{p.name}" for p in qmd.chapters())


# 3. A clean checkout after `quarto render` ---------------------------------------------------

def test_gitignore_already_has_the_lines_quarto_render_appends():
    """Quarto appends each of these unless the .gitignore has it as an exact (stripped) line."""
    lines = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert "/.quarto/" in lines and "**/*.quarto_ipynb" in lines


# 4. Offline ----------------------------------------------------------------------------------

def test_math_is_rendered_by_the_browser_not_a_cdn():
    assert HTML.get("html-math-method") == "mathml"
    for chapter in qmd.chapters():
        assert "html-math-method" not in chapter.read_text(), f"{chapter.name} overrides the math method"


def test_the_theme_imports_no_web_font():
    """cosmo imports its font from a web-font service `@if $web-font-path`; the site's own SCSS
    (a defaults layer, read before the theme's) switches that off."""
    themes = HTML["theme"] if isinstance(HTML["theme"], list) else [HTML["theme"]]
    files = [ROOT / t for t in themes if t.endswith(".scss")]
    assert files and all(f.exists() for f in files), f"no site SCSS in the theme {themes}"
    text = "\n".join(f.read_text() for f in files)
    defaults = text.split("/*-- scss:defaults --*/", 1)[1].split("/*-- scss:rules --*/")[0]
    assert re.search(r"^\$web-font-path:\s*false\s*;", defaults, flags=re.M)
    assert not re.search(r"@import\s+url\(|fonts\.googleapis", text)


def test_nothing_in_the_site_sources_loads_from_the_network():
    sources = [ROOT / "_quarto.yml", ROOT / "index.html", *qmd.chapters(), *qmd.REPORT_DIR.glob("*.scss")]
    pattern = re.compile(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?(?:https?:)?//", re.I)
    for source in sources:
        assert not pattern.search(source.read_text()), f"{source.name} loads something from the network"
    assert "include-in-header" not in (ROOT / "_quarto.yml").read_text()


def test_every_chapter_starts_with_the_report_setup():
    """report.setup() is what gives plotly figures their own plotly.js (and the figure style)."""
    for chapter in qmd.chapters():
        first = qmd.cells(chapter.read_text())[0]
        assert "report.setup()" in first.source and first.options.get("include") == "false", chapter.name


def test_a_plotly_figure_carries_its_own_library_and_no_html_output():
    go = pytest.importorskip("plotly.graph_objects")
    from plotly.offline import get_plotlyjs

    from core import report

    report.setup()
    fig = go.Figure(go.Scatter3d(x=[0, 1], y=[1, 0], z=[0, 2], mode="markers"))
    bundle = fig._repr_mimebundle_()
    # text/html or JavaScript would make Quarto add require.js and jQuery from CDNs.
    assert not {"text/html", "application/javascript"} & set(bundle)
    assert "application/vnd.plotly.v1+json" in bundle  # the runner counts it as a figure
    text = bundle["text/markdown"]
    lines = text.strip().splitlines()
    fence = re.match(r"(`{3,})\{=html\}$", lines[0]).group(1)
    assert lines[-1] == fence and not any(line.strip() == fence for line in lines[1:-1])
    assert get_plotlyjs() in text
    rest = text.replace(get_plotlyjs(), "")
    assert "Plotly.newPlot" in rest and not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", rest)


# 5. Reading comfort --------------------------------------------------------------------------

def test_code_blocks_wrap_instead_of_scrolling_sideways():
    assert HTML.get("code-overflow") == "wrap"


def test_the_site_root_sends_readers_to_the_index_without_javascript():
    root = (ROOT / "index.html").read_text()
    assert re.search(r'<meta http-equiv="refresh" content="0; url=report/index.html">', root)
    assert '<a href="report/index.html">' in root and "<script" not in root
    assert "/index.html" in CONFIG["project"]["resources"]  # copied to _site/index.html


def test_only_the_sites_own_files_are_resources():
    """Quarto matches a resource without a slash at any depth: `index.html` also copied the
    index.html files of packages inside .venv/ into _site/. Every resource is anchored at the root."""
    resources = CONFIG["project"].get("resources", [])
    assert resources and all(r.startswith("/") for r in resources), resources
    assert all((ROOT / r.lstrip("/")).exists() for r in resources)
    # An alias to /index.html would make Quarto write its JavaScript-only redirect there too.
    assert "/index.html" not in (_front_matter(qmd.REPORT_DIR / "index.qmd").get("aliases") or [])


def _figures_with_many_panels():
    """The figure functions whose text came out too small on the page, with synthetic inputs of
    the sizes the chapters give them (three loss curves, two grids, the whole scoreboard...)."""
    import numpy as np
    import torch

    from core import plots
    from core.plots import colour as cp
    from core.plots import companion as pc
    from core.plots import latent as pl
    from core.plots import scoreboard as psb
    from core.plots import vae as pv

    rng = np.random.default_rng(0)
    z, y, tiles, bounds = torch.randn(500, 2), torch.randint(0, 10, (500,)), torch.rand(225, 1, 28, 28), (-2, 2, -2, 2)
    curve = {"train": {"loss": [3.0, 2.0], "recon": [3.0, 2.0], "kl": [1.0, 2.0]},
             "test": {"loss": [3.0, 2.0], "recon": [3.0, 2.0], "kl": [1.0, 2.0]}}
    levels, betas = (0.1, 0.3, 0.5, 0.8), (0.01, 0.1, 1.0)
    methods = ["noisy", "ae", "vae", "map", "map_clip", "dncnn", "gaussian", "median", "nlm", "tv", "wavelet", "bm3d"]
    board = [{"method": m, "level": lv, "psnr": 10.0, "identity": {"judge": 0.5, "judge_mlp": 0.6}}
             for m in methods for lv in levels]
    split = {"train": {"mse": [0.02, 0.01]}, "val": {"mse": [0.02, 0.01]}, "test": {"mse": [0.02, 0.01]}}
    images = lambda n: torch.rand(n, 1, 28, 28)
    return {
        "loss_curves": lambda: plots.loss_curves(curve, keys=("loss", "recon", "kl")),
        "grid_beside_scatter": lambda: pl.grid_beside_scatter(tiles, bounds, 15, z, y),
        "grids_side_by_side": lambda: pv.grids_side_by_side(*[{"images": tiles, "bounds": bounds, "z": z}] * 2, 15, labels=y),
        "map_loss": lambda: pv.map_loss(torch.rand(30, 10), list(range(10)), {"L-BFGS": torch.rand(30), "Adam": torch.rand(30)}),
        "beta_curve": lambda: pv.beta_curve({"beta_psnr": rng.random((4, 3)), "beta_psnr_clip": rng.random((4, 3))},
                                            levels, betas, {str(v): 0.1 for v in levels}, {str(v): 0.1 for v in levels}),
        "psnr_and_identity": lambda: psb.psnr_and_identity(board, {m: f"{m} filter" for m in methods}),
        "wrong_digits": lambda: psb.wrong_digits(images(8), {"MAP": images(8)}, images(8), list(range(8)), {"MAP": {"judge": list(range(8)), "judge_mlp": list(range(8))}}),
        "mosaic_rows": lambda: pc.mosaic_rows({n: images(10) for n in ("input", "fc64", "fc128")}, col_titles=list(range(10))),
        "filter_rows": lambda: pc.filter_rows({"dae": torch.randn(8, 28, 28)}, {"dae": [f"unit {i}" for i in range(8)]}),
        "denoiser_curves": lambda: cp.denoiser_curves({"plain conv AE": split, "conv AE + dropout": split, "conv VAE": split}),
        "tsne_maps": lambda: cp.tsne_maps({t: (rng.normal(size=(300, 2)), rng.integers(0, 10, 300)) for t in "abc"}),
        "tsne_3d_static": lambda: cp.tsne_3d_static(rng.normal(size=(300, 3)), rng.integers(0, 10, 300)),
    }


@pytest.mark.parametrize("name", list(_figures_with_many_panels()))
def test_a_figures_text_reads_at_the_pages_width(name):
    """Shrunk to the text column, the smallest text of the figure is at least plots.MIN_TEXT_PT
    (the slow chapter tests measure every real figure the same way)."""
    from core import plots

    plots.style()
    fig = _figures_with_many_panels()[name]()
    assert plots.text_on_page(fig) >= plots.MIN_TEXT_PT
    assert fig.get_figwidth() <= plots.PAGE_WIDTH_IN + 1  # no longer grows with its panels


def test_text_on_page_shrinks_a_wide_figure_to_the_column():
    import matplotlib.pyplot as plt

    from core import plots

    fig = plt.figure(figsize=(2 * plots.COLUMN_PX / 110, 2), dpi=110)
    fig.add_axes((0, 0, 1, 1)).set_title("a title", fontsize=10)  # the axes fill the figure
    assert 4.5 < plots.text_on_page(fig) < 5  # half of 10 pt, less the margin: twice the column's width
    fig.set_size_inches(plots.COLUMN_PX / 110 / 2, 2)
    assert plots.text_on_page(fig) == pytest.approx(min(10, plt.rcParams["font.size"]))


def test_the_ranges_under_auto_scaled_images_are_readable():
    """On the page, the range under each auto-scaled image (B's figure 2) is at least 7 pt after
    the figure is shrunk to the column, and fits under its own image."""
    import numpy as np

    from core import plots
    from core.plots import companion as P

    plots.style()
    images = np.random.default_rng(0).normal(0.3, 0.5, (10, 1, 28, 28))
    fig = P.scaled_rows({"PCA-30": images, "fc64": images * 0.5}, col_titles=list(range(10)))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shrink = min(1.0, plots.COLUMN_PX / (fig.get_figwidth() * fig.dpi))
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 20
    for ax in image_axes:
        label = ax.xaxis.label
        assert label.get_text(), "no range under an image"
        assert label.get_fontsize() * shrink >= 7, f"{label.get_fontsize() * shrink:.1f} pt on the page"
        box, frame = label.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.width <= frame.width and box.y1 <= frame.y0  # under its image, no wider
        others = [o.get_window_extent(renderer) for o in image_axes if o is not ax]
        assert not any(box.overlaps(o) for o in others), "a range overlaps another image"


# 6. What a course site offers ----------------------------------------------------------------

def test_each_page_is_also_a_notebook_linked_from_it():
    assert "ipynb" in CONFIG["format"]
    links = HTML.get("format-links", True)
    assert links is True or "ipynb" in links


def test_each_chapter_executes_once_per_render():
    """Quarto executes a page once per format. The HTML page's execution is kept (keep-ipynb) and
    becomes the downloadable notebook after the render; the ipynb format only provides the link
    and executes nothing."""
    assert HTML.get("keep-ipynb") is True
    assert CONFIG["format"]["ipynb"]["execute"]["enabled"] is False
    assert all(f in ("html", "ipynb") for f in CONFIG["format"]), "another format would execute every page again"
    post = CONFIG["project"]["post-render"]
    assert "-m core.report.notebook" in (post if isinstance(post, str) else " ".join(post))


def test_each_page_shows_its_source():
    tools = HTML.get("code-tools")
    assert tools is True or (isinstance(tools, dict) and tools.get("source") not in (None, False))


def test_the_landing_page_shows_the_findings_the_demo_and_every_chapter():
    cells = qmd.cells(INDEX)
    assert any(c.options.get("label", "").startswith("fig-") for c in cells), "no figure"
    assert "summary.comparison_rows(" in INDEX and "reference.verdict(" in INDEX
    demo = re.search(r"!\[[^\]]+\]\(([^)\s]+\.png)\)", INDEX)
    assert demo and (qmd.REPORT_DIR / demo.group(1)).resolve() == ROOT / "docs" / "demo.png"
    assert (ROOT / "docs" / "demo.png").exists() and "make demo" in INDEX
    answers = INDEX.split("{#sec-chapters}", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\(([\w-]+\.qmd)(?:#[\w-]+)?\)", answers))
    assert linked == {p.name for p in qmd.chapters()} - {"index.qmd"}


def test_verdicts_follow_each_quantitys_better_side():
    from core.analysis import reference as R

    assert R.goal("a4_test_accuracy") == 1 and R.goal("c3_ae_snr") == 1
    assert R.goal("b1_ae_mse") == -1 and R.goal("b6_mse_tconv") == -1 and R.goal("b3_mean_act_64") == 0
    assert all(R.goal(k) == -1 for k, v in R.REFERENCE.items() if "MSE" in v[1])
    assert R.verdict("a4_test_accuracy", 99.1) == "better" and R.verdict("a4_test_accuracy", 90.0) == "worse"
    assert R.verdict("b1_ae_mse", 0.005) == "better" and R.verdict("b1_ae_mse", 0.01) == "worse"
    assert R.verdict("a4_test_accuracy", 97.84) == "same"  # equal at the reference's precision
    assert R.verdict("b3_mean_act_64", 2.0) == "no better side"
    assert R.verdict("b1_ae_mse", "not measured") == "not measured"
    assert R.improvement("c3_ae_snr", R.reference("c3_ae_snr") + 10) == pytest.approx(10)
    assert R.improvement("b1_ae_mse", R.reference("b1_ae_mse") / 4) == pytest.approx(4)
    from core.report.summary import comparison_rows

    rows = comparison_rows({"a4_test_accuracy": 99.1, "b3_mean_act_64": 2.0})
    assert {r["ours vs reference"] for r in rows} == {"✓ better", "–", "not measured"}


def test_the_findings_figure_has_one_bar_per_measured_score_coloured_by_side():
    from matplotlib.colors import to_hex

    from core.analysis import reference as R
    from core.plots.summary import BETTER, WORSE, reference_comparison

    ours = {"a4_test_accuracy": 99.1, "b1_ae_mse": 0.01, "b3_mean_act_64": 2.0}
    bars = reference_comparison(ours).axes[0].patches
    assert [to_hex(b.get_facecolor()) for b in bars] == [BETTER, WORSE]
    assert bars[0].get_width() == pytest.approx(__import__("math").log10(R.improvement("a4_test_accuracy", 99.1)))


# 7. `make report` on a fresh machine ---------------------------------------------------------

SYSTEM_PATH = "/usr/bin:/bin"


def _fake_venv(tmp_path: Path, pip_brings_quarto: bool) -> Path:
    """A venv whose python logs its calls; `pip install` brings a logging quarto, or fails."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".requirements-installed").touch()  # newer than requirements.txt: no install
    fake_quarto = '#!/bin/sh\necho "quarto $* QUARTO_PYTHON=$QUARTO_PYTHON" >> "$LOG"\necho 1.10.0\n'
    install = (f"printf '%s' '{fake_quarto}' > {venv}/bin/quarto; chmod +x {venv}/bin/quarto"
               if pip_brings_quarto else "echo 'ERROR: download failed' >&2; exit 1")
    (venv / "bin" / "python").write_text(
        '#!/bin/sh\necho "python $*" >> "$LOG"\n'
        f'case "$*" in *"pip install"*) {install} ;; esac\n')
    (venv / "bin" / "python").chmod(0o755)
    return venv


def _make_report(venv: Path, tmp_path: Path, path: str = SYSTEM_PATH):
    log = tmp_path / "log"
    log.touch()
    env = {"PATH": path, "LOG": str(log), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    run = subprocess.run(["make", "-s", "-C", str(ROOT), "report", f"VENV={venv}"],
                         env=env, capture_output=True, text=True, timeout=60)
    return run, log.read_text()


needs_make = pytest.mark.skipif(not shutil.which("make") or shutil.which("quarto", path=SYSTEM_PATH),
                                reason="needs make, and no quarto in /usr/bin or /bin")


@needs_make
def test_make_report_installs_quarto_cli_into_the_venv_and_renders_with_it(tmp_path):
    venv = _fake_venv(tmp_path, pip_brings_quarto=True)
    run, log = _make_report(venv, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "python -m pip install --disable-pip-version-check quarto-cli" in log
    assert "python -m ipykernel install --sys-prefix --name python3" in log  # the venv's kernel
    assert f"quarto render QUARTO_PYTHON={venv}/bin/python" in log


@needs_make
def test_make_report_says_what_to_install_when_quarto_cannot_be_had(tmp_path):
    venv = _fake_venv(tmp_path, pip_brings_quarto=False)
    run, log = _make_report(venv, tmp_path)
    assert run.returncode != 0
    said = [line for line in run.stdout.splitlines() if "needs Quarto" in line]
    assert len(said) == 1 and "Install Quarto" in said[0] and "quarto-cli" in said[0]
    assert "download failed" not in run.stdout + run.stderr  # pip's output went to the log file
    assert "download failed" in (tmp_path / "aelab-quarto-install.log").read_text()
    assert "render" not in log


def _path_quarto(tmp_path, last_line: str):
    """A folder for the PATH with a `quarto` that logs its arguments to $LOG, then runs `last_line`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "quarto").write_text(f'#!/bin/sh\necho "path-quarto $*" >> "$LOG"\n{last_line}\n')
    (bin_dir / "quarto").chmod(0o755)
    return bin_dir


@needs_make
def test_make_report_says_when_the_quarto_on_the_path_is_broken(tmp_path):
    """A quarto on the PATH that fails `--version` is named as what failed: nothing is installed,
    no install log is mentioned."""
    venv = _fake_venv(tmp_path, pip_brings_quarto=True)
    bin_dir = _path_quarto(tmp_path, "exit 3")
    run, log = _make_report(venv, tmp_path, path=f"{bin_dir}:{SYSTEM_PATH}")
    assert run.returncode != 0
    said = [line for line in run.stdout.splitlines() if "fails 'quarto --version'" in line]
    assert len(said) == 1 and str(bin_dir / "quarto") in said[0], run.stdout
    assert "install" not in log and "render" not in log and "log" not in said[0]


@needs_make
def test_make_report_says_when_the_installed_quarto_does_not_run(tmp_path):
    venv = _fake_venv(tmp_path, pip_brings_quarto=True)
    python = (venv / "bin" / "python").read_text().replace("echo 1.10.0", "exit 4")
    (venv / "bin" / "python").write_text(python)
    run, log = _make_report(venv, tmp_path)
    assert run.returncode != 0 and "pip install" in log and "render" not in log
    said = [line for line in run.stdout.splitlines() if "needs Quarto" in line]
    assert len(said) == 1 and "package installed, but its" in said[0] and "Install Quarto" in said[0]


@needs_make
def test_make_report_uses_the_quarto_on_the_path_first(tmp_path):
    venv = _fake_venv(tmp_path, pip_brings_quarto=False)
    bin_dir = _path_quarto(tmp_path, "echo 1.10.0")
    run, log = _make_report(venv, tmp_path, path=f"{bin_dir}:{SYSTEM_PATH}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "path-quarto render" in log and "pip install" not in log


# 8. A rendered site's notebooks (after `make report`; CI renders nothing) ---------------------

SITE = os.environ.get("AELAB_SITE")


@pytest.mark.slow
@pytest.mark.skipif(not SITE, reason="AELAB_SITE names a rendered site folder (make report's _site) to check")
@pytest.mark.parametrize("chapter", qmd.chapters(), ids=lambda p: p.name)
def test_a_rendered_chapters_notebook_runs_and_shows_its_pages_figures_and_tables(chapter, tmp_path):
    """The notebook a reader downloads from the rendered page: as downloaded, and executed again
    top to bottom with nbclient in a fresh kernel outside the checkout, it shows as many figures
    and tables as the page; its links lead to other notebooks of the site and to their anchors."""
    import nbformat
    from nbclient import NotebookClient

    site = Path(SITE) / "report"
    html = (site / f"{chapter.stem}.html").read_text()
    page = tuple(len(re.findall(rf'<div id="{kind}-[\w-]+" class="[^"]*\bquarto-float\b', html)) for kind in ("fig", "tbl"))
    book = nbformat.read(site / f"{chapter.stem}.ipynb", as_version=4)
    nbformat.validate(book)
    assert qmd.shown(book) == page, f"as downloaded: {qmd.shown(book)} figures/tables, the page {page}"
    text = "\n".join(c.source for c in book.cells if c.cell_type == "markdown")
    for target, anchor in re.findall(r"\]\(([\w-]+\.ipynb)(?:#([\w-]+))?\)", text):
        assert (site / target).exists(), target
        assert not anchor or f'<a id=\\"{anchor}\\"></a>' in (site / target).read_text(), (target, anchor)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's `core`, as a clone's editable install gives it
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = NotebookClient(book, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(book.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    assert qmd.shown(book) == page, f"run again: {qmd.shown(book)} figures/tables, the page {page}"
