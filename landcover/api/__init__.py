"""The REST API (/api/v1/): one module per resource, with parameter parsing (`params`), the
exception → status table (`errors`), answer caching (`caching`), file downloads (`files`) and
XYZ tiles (`tiles`) shared by catalogue maps and uploads."""
