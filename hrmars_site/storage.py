"""Static files in production: WhiteNoise's compressed, hashed names, with the `import … from "./x.js"`
lines of our ES modules (static/js/) rewritten to the hashed names too, so a page never loads a
new map.js with a stale api.js from a cache."""
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
