"""Validates exported notebooks against nbformat's published JSON schema.

    python scripts/check_notebook.py <notebook.ipynb> [...]

Exits 1 if any notebook is invalid. Also checks that every code cell compiles as Python and
every embedded SVG figure (a data URI in a Markdown cell, an attachment or an output) parses as XML, and reports whether the file is byte-identical to what Jupyter itself would save
(nbformat.writes). Needs the `nbformat` package. Notebooks to check come from
`fusionlab export-notebook`, or from the Swift tests with
FUSIONLAB_TEST_OUTPUT=<dir> swift test --filter NotebookTests.
"""
import base64
import copy
import json
import re
import os
import sys
import warnings
import xml.etree.ElementTree as ET

import jsonschema
import nbformat

# nbformat.validate repairs some faults in place (a missing cell id only warns), so the raw JSON
# is also checked against the published schema file itself.
SCHEMA_DIR = os.path.join(os.path.dirname(nbformat.__file__), "v4")


def check(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        raw = json.loads(text)
        schema_file = os.path.join(SCHEMA_DIR, f"nbformat.v{raw.get('nbformat')}.{raw.get('nbformat_minor')}.schema.json")
        with open(schema_file, encoding="utf-8") as f:
            jsonschema.validate(raw, json.load(f))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a repair warning counts as invalid
            nbformat.validate(copy.deepcopy(raw))
        nb = nbformat.from_dict(raw)
    except Exception as error:  # jsonschema/nbformat ValidationError, JSON errors, unknown version
        print(f"{path}: INVALID: {type(error).__name__}: {str(error).splitlines()[0]}")
        return False
    figures = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
                compile(source, f"{path}:{cell.id}", "exec")
            except SyntaxError as error:
                print(f"{path}: cell {cell.id}: Python syntax error: {error}")
                return False
        bundles = [output.get("data", {}) for output in cell.get("outputs", [])] + list(cell.get("attachments", {}).values())
        source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
        for encoded in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", source):
            bundles.append({"image/svg+xml": base64.b64decode(encoded).decode("utf-8")})
        for bundle in bundles:
            svg = bundle.get("image/svg+xml")
            if svg is not None:
                try:
                    root = ET.fromstring("".join(svg) if isinstance(svg, list) else svg)
                except ET.ParseError as error:
                    print(f"{path}: cell {cell.get('id')}: SVG does not parse: {error}")
                    return False
                if not root.tag.endswith("svg"):
                    print(f"{path}: cell {cell.get('id')}: SVG root is {root.tag}")
                    return False
                figures += 1
    same = nbformat.writes(nb) + "\n" == text
    kinds = {kind: sum(c.cell_type == kind for c in nb.cells) for kind in ("markdown", "code")}
    print(f"{path}: valid nbformat {nb.nbformat}.{nb.nbformat_minor} (nbformat {nbformat.__version__} validate "
          f"and {os.path.basename(schema_file)}); "
          f"{kinds['markdown']} markdown + {kinds['code']} code cells, code compiles, {figures} SVG figures parse; "
          f"{'byte-identical to' if same else 'differs from'} nbformat.writes")
    return True


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    results = [check(path) for path in sys.argv[1:]]
    sys.exit(0 if all(results) else 1)
