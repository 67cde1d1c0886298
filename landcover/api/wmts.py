"""OGC WMTS capabilities of a stored map's XYZ tiles, so QGIS, ArcGIS and OWSLib add it as a layer by URL.

The tiles are the API's own (Web Mercator, 256 px, `{z}/{x}/{y}.png`); the document describes them in
WMTS 1.0 RESTful terms: the GoogleMapsCompatible well-known tile matrix set (zoom 0–22) and one
ResourceURL template per layer; OperationsMetadata offers GetCapabilities and GetTile in the RESTful encoding,
and class layers carry a LegendURL (the classes' colours and names as a PNG). Built with ElementTree, so names
and URLs are always escaped.
"""
from __future__ import annotations

from xml.etree import ElementTree as ET

from django.http import HttpResponse

WMTS = "http://www.opengis.net/wmts/1.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
MATRIX_SET = "GoogleMapsCompatible"
ZOOMS = range(0, 23)
ORIGIN = 20037508.3427892  # half the Web Mercator world's width, metres
SCALE_0 = 559082264.0287178  # scale denominator of zoom 0 (0.28 mm pixels)

ET.register_namespace("", WMTS)
ET.register_namespace("ows", OWS)
ET.register_namespace("xlink", XLINK)


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _operation(parent: ET.Element, name: str, href: str) -> None:
    """One operation of OperationsMetadata, offered in the RESTful encoding only (as the tiles are)."""
    operation = _sub(parent, OWS, "Operation", name=name)
    get = _sub(_sub(_sub(operation, OWS, "DCP"), OWS, "HTTP"), OWS, "Get", **{f"{{{XLINK}}}href": href})
    allowed = _sub(_sub(get, OWS, "Constraint", name="GetEncoding"), OWS, "AllowedValues")
    _sub(allowed, OWS, "Value", "RESTful")


def capabilities(title: str, bounds: tuple[float, float, float, float], layers: dict[str, tuple[str, str]],
                 self_url: str, legends: dict[str, str] | None = None) -> bytes:
    """The capabilities XML: `layers` maps an identifier to (title, XYZ template with {z}, {x}, {y}); `legends` an
    identifier to the URL of its legend image (a PNG)."""
    legends = legends or {}
    root = ET.Element(f"{{{WMTS}}}Capabilities", {"version": "1.0.0"})
    service = _sub(root, OWS, "ServiceIdentification")
    _sub(service, OWS, "Title", title)
    _sub(service, OWS, "ServiceType", "OGC WMTS")
    _sub(service, OWS, "ServiceTypeVersion", "1.0.0")
    operations = _sub(root, OWS, "OperationsMetadata")
    _operation(operations, "GetCapabilities", self_url)
    _operation(operations, "GetTile", self_url.rsplit("wmts/", 1)[0])
    contents = _sub(root, WMTS, "Contents")
    west, south, east, north = bounds
    for identifier, (layer_title, template) in layers.items():
        layer = _sub(contents, WMTS, "Layer")
        _sub(layer, OWS, "Title", layer_title)
        box = _sub(layer, OWS, "WGS84BoundingBox")
        _sub(box, OWS, "LowerCorner", f"{west} {south}")
        _sub(box, OWS, "UpperCorner", f"{east} {north}")
        _sub(layer, OWS, "Identifier", identifier)
        style = _sub(layer, WMTS, "Style", isDefault="true")
        _sub(style, OWS, "Identifier", "default")
        if identifier in legends:
            _sub(style, WMTS, "LegendURL", format="image/png", **{f"{{{XLINK}}}href": legends[identifier]})
        _sub(layer, WMTS, "Format", "image/png")
        link = _sub(layer, WMTS, "TileMatrixSetLink")
        _sub(link, WMTS, "TileMatrixSet", MATRIX_SET)
        resource = template.replace("{z}", "{TileMatrix}").replace("{x}", "{TileCol}").replace("{y}", "{TileRow}")
        _sub(layer, WMTS, "ResourceURL", format="image/png", resourceType="tile", template=resource)
    matrix_set = _sub(contents, WMTS, "TileMatrixSet")
    _sub(matrix_set, OWS, "Identifier", MATRIX_SET)
    _sub(matrix_set, OWS, "SupportedCRS", "urn:ogc:def:crs:EPSG::3857")
    _sub(matrix_set, WMTS, "WellKnownScaleSet", "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible")
    for z in ZOOMS:
        matrix = _sub(matrix_set, WMTS, "TileMatrix")
        _sub(matrix, OWS, "Identifier", str(z))
        _sub(matrix, WMTS, "ScaleDenominator", repr(SCALE_0 / 2**z))
        _sub(matrix, WMTS, "TopLeftCorner", f"{-ORIGIN} {ORIGIN}")
        _sub(matrix, WMTS, "TileWidth", "256")
        _sub(matrix, WMTS, "TileHeight", "256")
        _sub(matrix, WMTS, "MatrixWidth", str(2**z))
        _sub(matrix, WMTS, "MatrixHeight", str(2**z))
    _sub(root, WMTS, "ServiceMetadataURL", **{f"{{{XLINK}}}href": self_url})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def capabilities_response(title: str, bounds: tuple[float, float, float, float], layers: dict[str, tuple[str, str]],
                          self_url: str, cache_control: str, legends: dict[str, str] | None = None) -> HttpResponse:
    """The capabilities document as an XML response."""
    response = HttpResponse(capabilities(title, bounds, layers, self_url, legends), content_type="application/xml")
    response["Cache-Control"] = cache_control
    return response
