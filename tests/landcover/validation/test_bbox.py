"""landcover.validation.bbox: the one bounding-box parser and its one antimeridian rule (issue 22)."""
from __future__ import annotations

import pytest

from landcover.errors import InvalidInput
from landcover.validation.areas import from_bbox
from landcover.validation.bbox import parse_bbox


def test_text_and_lists_read_the_same_and_3d_boxes_drop_their_heights():
    assert parse_bbox("11.4,48.0,11.8,48.3").extent == parse_bbox([11.4, 48.0, 11.8, 48.3]).extent
    assert parse_bbox([11.4, 48.0, 0, 11.8, 48.3, 100]).extent == (11.4, 48.0, 11.8, 48.3)
    assert parse_bbox("1,2,3,4").srid == 4326


def test_west_beyond_east_crosses_the_antimeridian_for_searches_and_is_refused_for_areas():
    east, west = parse_bbox("170,-10,-170,10")
    assert east.extent == (170, -10, 180, 10) and west.extent == (-180, -10, -170, 10)
    with pytest.raises(InvalidInput, match="antimeridian"):
        from_bbox([170, -10, -170, 10])


@pytest.mark.parametrize("value, words", [
    ("1,2,3", "four numbers"), (["a", 1, 2, 3], "four numbers"), ([True, 1, 2, 3], "four numbers"),
    ("1,2,3,nan", "four numbers"), ("0,50,10,40", "min_lat must be less"), ("-200,0,10,10", "longitudes"),
    ("0,-95,10,10", "latitudes"), ("5,0,5,10", "zero width"), (None, "four numbers"),
])
def test_every_bad_box_says_why(value, words):
    with pytest.raises(InvalidInput, match=words) as error:
        parse_bbox(value, field="box")
    assert error.value.field == "box"
