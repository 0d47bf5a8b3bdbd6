"""`catdog review` and `catdog report`: look at the results table's photos, correct them, share them.

- `views`: what each view of the page lists, as DynamoDB Query streams, and the paging over them;
- `stats`: the counts at the top and the reviewed accuracy per model version;
- `catalog`: the live model, its labels and the published versions, from `models/` on S3;
- `thumbnails`: small JPEGs made through the Lambda's own decoder guards, cached on disk;
- `templates`: the HTML (Jinja2, autoescaped) shared by the page and the static report;
- `server`: the Flask app and the local server `catdog review` runs.

Everything here runs with the user's own credentials, never the function's role; the one write
(a review) goes through `catdog.results.ResultsTable`, the table's only writer.
"""

#: The low-confidence view's default threshold (here, not in `views`, so `catdog --help` stays light).
DEFAULT_THRESHOLD = 0.8
#: Thumbnail sides, in pixels: the default, and what `--thumb-size` and `Thumbnailer` accept.
DEFAULT_SIDE = 160
MIN_SIDE = 32
MAX_SIDE = 1024
