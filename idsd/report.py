"""One self-contained HTML report of a run (``python -m idsd.report [OUTPUTS]``).

``run_all.sh`` calls this after the last stage; it writes ``<outputs>/report.html``, a single file a
researcher can email: which command and commit produced the run, the stage timings, the results
(``tables/results.md`` and, when present, ``tables/explanations.md``, rendered from Markdown), every
figure of ``figures/*.png`` embedded as a ``data:image/png`` URI, and relative links to the executed
notebooks (not embedded). CSS is inline and nothing is fetched from elsewhere. The page carries
``<meta name="idsd-expected" content='{"images": N, "tables": M}'>``: the number of ``<img>`` and
``<table>`` elements written, so a browser can check that what loaded is what was meant to be there.
The same outputs give the same bytes (no build time in the page).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import struct
import sys
from pathlib import Path

from jinja2 import Environment
from markdown_it import MarkdownIt

from idsd.files import write_text
from idsd.paths import OUTPUTS, Outputs
from idsd.readme import FIGURES, run_command, run_info

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="idsd-expected" content='{{ expected }}'>
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.5rem; }
th { background: #eee; } tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 0.2rem; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dl.run dt { font-weight: bold; } dl.run dd { margin: 0; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-style: italic; color: #555; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<section id="run">
<dl class="run">
<dt>Command</dt><dd><code>{{ command }}</code></dd>
<dt>Commit</dt><dd>{% if commit %}<code>{{ commit }}</code>{% if dirty %} (with uncommitted changes){% endif %}{% else %}unknown{% endif %}</dd>
{% if started %}<dt>Started</dt><dd>{{ started }}</dd>
{% endif %}{% if source %}<dt>Study source</dt><dd>{{ source }}</dd>
{% endif %}</dl>
{% if timings %}<h2>Stage timings</h2>
<table class="timings">
<thead><tr>{% for f in timings[0] %}<th>{{ f }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in timings[1:] %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% endif %}</section>
<section id="results">
{{ results | safe }}
</section>
{% if explanations %}<section id="explanations">
{{ explanations | safe }}
</section>
{% endif %}{% if figures %}<section id="figures">
<h2>Figures</h2>
{% for fig in figures %}<figure id="fig-{{ fig.name }}">
<img alt="{{ fig.caption }}" src="data:image/png;base64,{{ fig.data }}">
<figcaption>{{ fig.caption }}</figcaption>
</figure>
{% endfor %}</section>
{% endif %}{% if notebooks %}<section id="notebooks">
<h2>Executed notebooks</h2>
<ul>
{% for nb in notebooks %}<li><a href="{{ nb }}">{{ nb }}</a></li>
{% endfor %}</ul>
</section>
{% endif %}</body>
</html>
"""


def _markdown(path: Path) -> str:
    """``path`` rendered from Markdown (CommonMark with GitHub pipe tables; raw HTML is escaped)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return md.render(path.read_text(encoding="utf-8"))


def _timings(path: Path) -> list[list[str]]:
    """Header and rows of ``timings.csv``, the last row of each stage only (the file is appended to)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        return []
    latest = {row[0]: row for row in rows[1:] if row}
    return [rows[0], *(latest[stage] for stage in sorted(latest))]


def png_data(path: Path) -> str:
    """The base64 text of the PNG at ``path``.

    Raises
    ------
    ValueError
        The file cannot be read, is empty, or is not a PNG with a non-zero size (one line, naming it).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the figure ({err.strerror or err})") from err
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a readable PNG ({len(data)} bytes); re-run the stage that draws it")
    width, height = struct.unpack(">II", data[16:24])
    if not width or not height:
        raise ValueError(f"{path}: PNG of size {width}x{height}; re-run the stage that draws it")
    return base64.b64encode(data).decode("ascii")


def build_report(outputs: str | os.PathLike | Outputs = OUTPUTS) -> Path:
    """Write ``<outputs>/report.html`` (atomically) and return its path.

    Parameters
    ----------
    outputs : str, PathLike or Outputs
        The outputs directory of a finished run.

    Returns
    -------
    Path
        The report.

    Raises
    ------
    FileNotFoundError
        ``<outputs>/tables/results.md`` is missing (notebook 07 writes it).
    ValueError
        A figure is not a readable PNG (the message names it).
    """
    out = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    results = out.tables / "results.md"
    if not results.is_file():
        raise FileNotFoundError(f"{results} not found: run ./run_all.sh (notebook 07 writes it) first")
    run = run_info(out)
    study_file = out.manifests / "study.json"
    try:
        source = json.loads(study_file.read_text()).get("source") if study_file.is_file() else None
    except (OSError, ValueError):
        source = None
    explanations = out.tables / "explanations.md"
    captions = dict(FIGURES)
    figures = [dict(name=p.stem, caption=captions.get(p.stem, p.stem.replace("_", " ")), data=png_data(p))
               for p in sorted(out.figures.glob("*.png"))]
    notebooks = [f"{out.notebooks.name}/{p.name}" for p in sorted(out.notebooks.glob("[0-9][0-9]_*.ipynb"))]
    context = dict(
        title=f"IDSD study report: {run.get('study_name') or out.base.name}",
        command=run_command(run), commit=run.get("commit"), dirty=run.get("dirty"), started=run.get("started"),
        source=source, timings=_timings(out.notebooks / "timings.csv"),
        results=_markdown(results),
        explanations=_markdown(explanations) if explanations.is_file() else None,
        figures=figures, notebooks=notebooks,
    )
    template = Environment(autoescape=True, keep_trailing_newline=True).from_string(TEMPLATE)
    draft = template.render(expected="{}", **context)
    body = draft.split("<body>", 1)[1]
    expected = json.dumps({"images": body.count("<img "), "tables": body.count("<table")})
    html = template.render(expected=expected, **context)
    return write_text(out.base / "report.html", html)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idsd.report", description=__doc__.splitlines()[0])
    parser.add_argument("outputs", nargs="?", default=str(OUTPUTS), help="outputs directory (default outputs/)")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.outputs)
    except (FileNotFoundError, ValueError) as err:
        print(f"python -m idsd.report: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
