"""The shell of alm's self-contained HTML pages (the plan report, the ops cost report).

No external asset and no script: inline CSS, and a Content-Security-Policy that lets the
page load nothing at all (images only from data: URIs embedded in the page, when it has
any), so even a text that escaped escaping could not fetch or run anything.
"""

from __future__ import annotations

from reconciler.plan.render_common import esc

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
CSP_WITH_IMAGES = CSP + "; img-src data:"
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d0d7de; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: .5em; white-space: pre-wrap; overflow-wrap: anywhere; }
details.case { border: 1px solid #d0d7de; border-radius: 6px; margin: .4em 0; padding: .3em .6em; }
summary { cursor: pointer; } dt { font-weight: 600; } .bad { color: #cf222e; }
.overview { color: #59636e; }
"""
IMAGE_STYLE = "img { max-width: 100%; height: auto; }\n"


def page(title: str, body: str, *, images: bool = False) -> str:
    """A whole page: `title` is plain text (escaped here), `body` is HTML already."""
    csp = CSP_WITH_IMAGES if images else CSP
    style = STYLE + IMAGE_STYLE if images else STYLE
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{style}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
