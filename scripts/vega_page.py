"""Write the generated projects' page template for `dvc plots show`, with Vega inlined so it renders offline.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline it is blank. The generated
`.dvc/config` sets `plots.html_template` to this page instead: the three libraries' minified builds are
inlined, and the page has no `{scripts}` placeholder, so DVC adds no CDN tags. Run it (it needs npm, which
fetches the three packages) to move to other versions, then check the page with
`pytest tests/test_screenshots.py`:

    python scripts/vega_page.py [--vega 5.33.1 --vega-lite 5.23.0 --vega-embed 6.29.0]

DVC's templates are Vega-Lite 5 specifications, so stay on Vega 5, Vega-Lite 5 and Vega-Embed 6.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
PAGE = TEMPLATE / "{{cookiecutter.project_slug}}" / ".dvc" / "plots" / "offline.html"
BUILDS = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "vega-embed": "build/vega-embed.min.js"}
LICENSE = """Copyright (c) 2015, University of Washington Interactive Data Lab. All rights reserved.

Redistribution and use in source and binary forms, with or without modification, are permitted provided
that the following conditions are met:
1. Redistributions of source code must retain the above copyright notice, this list of conditions and the
   following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice, this list of conditions and the
   following disclaimer in the documentation and/or other materials provided with the distribution.
3. Neither the name of the copyright holder nor the names of its contributors may be used to endorse or
   promote products derived from this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED
WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY
DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR
OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH
DAMAGE."""
STYLE = """body { font-family: sans-serif; margin: 16px; }
    .vega-embed { margin: 8px 16px 24px 0; }
    table { border-spacing: 15px; }"""


def fetch(package: str, version: str, into: Path) -> str:
    """The package's minified build, from the tarball `npm pack` fetches."""
    subprocess.run(["npm", "pack", "--silent", f"{package}@{version}"], cwd=into, check=True,
                   capture_output=True, text=True)
    with tarfile.open(into / f"{package}-{version}.tgz") as archive:
        source = archive.extractfile(f"package/{BUILDS[package]}")
        if source is None:
            raise SystemExit(f"{package}@{version}: no {BUILDS[package]} in the package")
        # No source-map comment: a browser's developer tools would try to fetch the map.
        return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", source.read().decode())


def page(libraries: dict[str, tuple[str, str]]) -> str:
    listed = "\n".join(f"  {name} {version} ({BUILDS[name]}, sha256 {hashlib.sha256(code.encode()).hexdigest()})"
                       for name, (version, code) in libraries.items())
    # A `</script` inside the code would end the inline script early.
    scripts = "\n".join("<script>" + code.replace("</script", "<\\/script") + "</script>"
                        for _, code in libraries.values())
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>DVC plots</title>
<!--
Page template for `dvc plots show` and `dvc plots diff` (plots.html_template in .dvc/config): the Vega
libraries are inlined so the page renders offline, where DVC's own page loads them from a CDN.
Written by the template's scripts/vega_page.py; DVC fills in the plots.
{listed}
Vega, Vega-Lite and Vega-Embed are released under the BSD 3-Clause License:

{LICENSE}
-->
{scripts}
<style>
    {STYLE}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vega", default="5.33.1")
    parser.add_argument("--vega-lite", default="5.23.0")
    parser.add_argument("--vega-embed", default="6.29.0")
    parser.add_argument("--out", type=Path, default=PAGE)
    args = parser.parse_args()
    versions = {"vega": args.vega, "vega-lite": args.vega_lite, "vega-embed": args.vega_embed}
    with tempfile.TemporaryDirectory() as tmp:
        libraries = {name: (version, fetch(name, version, Path(tmp))) for name, version in versions.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page(libraries))
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
