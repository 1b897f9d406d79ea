"""Execute the notebooks with their default parameters and store them with their outputs.

    python tools/run_notebooks.py [NAME.ipynb ...]

Each notebook of ``notebooks/`` runs with papermill (its ``parameters`` cell as written:
saved results where the notebook reads them, ``../shared/data`` where it needs data) and is
written back in place, so the shipped notebooks show what they compute. Figures are stored
as 256-colour PNGs at most 1,400 pixels wide (a maximum-coverage palette refined by k-means:
small marks of saturated colour, such as the orbit colours of the constraint graphs, keep
their colour, and greys stay grey), and
tqdm's "IProgress not found" notice is dropped, to keep the files small and free of machine
paths. The test suite still executes every notebook with small settings
(``tests/test_notebooks.py``) and checks that the shipped copies are executed, in order,
without errors (``tests/test_notebook_outputs.py``).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_WIDTH = 1400


def shrink_png(data: str) -> str:
    """A smaller PNG of the same figure (half size above ``MAX_WIDTH``, 256 colours).

    Median cut (PIL's default) spends the palette on the large white and grey areas and turns
    small coloured markers into muddy neighbours (on notebook 01's constraint-graph figures a
    pixel moved by up to 130 of 255 levels); maximum coverage keeps every pixel within about
    20 levels there, in smaller files, and five k-means passes over its palette keep the grey
    panes of 3D axes grey (without them they turn beige).
    """
    from PIL import Image

    raw = base64.b64decode(data)
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    buf = io.BytesIO()
    palette = image.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, kmeans=5)
    palette.save(buf, "PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode() if len(buf.getvalue()) < len(raw) else data


def clean(notebook: dict) -> dict:
    """Shrink the figures and drop tqdm's widget notice from every output."""
    for cell in notebook["cells"]:
        outputs = []
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", ""))
            if out.get("name") == "stderr" and "IProgress not found" in text:
                continue
            data = out.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                data["image/png"] = shrink_png("".join(png) if isinstance(png, list) else png)
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return notebook


def run(path: Path) -> float:
    import papermill

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        papermill.execute_notebook(str(path), str(out), cwd=str(path.parent),
                                   kernel_name="python3", progress_bar=False)
        notebook = clean(json.loads(out.read_text()))
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        seconds = run(NOTEBOOKS / name)
        print(f"{name}: executed in {seconds:.0f} s, "
              f"{(NOTEBOOKS / name).stat().st_size / 1e3:.0f} kB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
