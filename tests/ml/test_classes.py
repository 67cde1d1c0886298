import numpy as np

from ml import classes as C


def test_igbp_to_dfc_follows_the_dfc2020_table():
    igbp = np.arange(0, 20, dtype=np.uint8)
    expected = [0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 6, 8, 9, 10, 0, 0]
    assert C.igbp_to_dfc(igbp).tolist() == expected


def test_unknown_codes_are_nodata_never_a_class():
    assert C.igbp_to_dfc(np.array([0, 18, 255, -3, 1000])).tolist() == [0, 0, 0, 0, 0]
    assert C.index_to_dfc(np.array([8, 9, 255])).tolist() == [0, 0, 0]


def test_model_classes_skip_savanna_and_snow():
    assert C.MODEL_CLASSES == (1, 2, 4, 5, 6, 7, 9, 10)
    assert C.dfc_to_index(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0])).tolist() == [0, 1, 255, 2, 3, 4, 5, 255, 6, 7, 255]
    assert C.index_to_dfc(C.dfc_to_index(np.array(C.MODEL_CLASSES))).tolist() == list(C.MODEL_CLASSES)


def test_colour_table_and_lccs_layers():
    cmap = C.colormap()
    assert cmap[0] == (0, 0, 0, 0) and cmap[1] == (0, 153, 0, 255) and cmap[10] == (28, 13, 255, 255)
    assert len(C.IGBP) == 17 and C.LCCS_LU[36] == "Herbaceous Croplands" and C.LCCS_SH[30] == "Grasslands"
