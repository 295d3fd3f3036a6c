"""Building blocks: motion models, rectangles, validity, failure checks, pyramid plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allfocus.align import MOTION_MODELS
from allfocus.align._estimate import Plan, check_matrix, link_order
from allfocus.align._warp import covered_rows, largest_rectangle


@pytest.mark.parametrize("name", ["translation", "similarity", "affine", "homography"])
def test_model_parameters(name):
    model = MOTION_MODELS.get(name)
    np.testing.assert_array_equal(model.matrix(np.zeros(model.num_params)), np.eye(3))
    m = model.matrix(np.full(model.num_params, 0.01))
    np.testing.assert_allclose(model.project(m), m)
    # Steepest-descent images have one column per parameter.
    g = np.ones(5, np.float32)
    assert model.steepest_descent(g, g, g, g).shape == (5, model.num_params)


def test_model_registry_lists_choices():
    with pytest.raises(ValueError, match="choose one of: affine, homography"):
        MOTION_MODELS.get("rigid")


def test_similarity_projection():
    sim = MOTION_MODELS.get("similarity")
    shear = np.array([[1.0, 0.1, 2.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
    p = sim.project(shear)
    assert p[0, 0] == p[1, 1]
    assert p[0, 1] == -p[1, 0]
    np.testing.assert_array_equal(p[:2, 2], [2.0, 3.0])


def test_check_matrix_reasons():
    shape = (100, 100)
    assert check_matrix(np.eye(3), shape) is None
    far = np.array([[1.0, 0, 90], [0, 1.0, 0], [0, 0, 1.0]])
    assert "too little overlap" in check_matrix(far, shape)
    assert "degenerate" in check_matrix(np.diag([0.1, 0.1, 1.0]), shape)
    assert "degenerate" in check_matrix(np.diag([-1.0, 1.0, 1.0]), shape)
    assert "non-finite" in check_matrix(np.full((3, 3), np.nan), shape)


def test_largest_rectangle_of_a_diamond():
    # |x - 10| + |y - 10| <= 10 on a 21 x 21 grid: largest box is 11 x 11 at the centre.
    y = np.arange(21)
    half = 10 - np.abs(y - 10)
    box = largest_rectangle(10 - half, 10 + half)
    y0, y1, x0, x1 = box
    assert (y1 - y0) * (x1 - x0) == 121
    rows = np.arange(y0, y1)[:, None]
    cols = np.arange(x0, x1)[None, :]
    assert (np.abs(rows - 10) + np.abs(cols - 10) <= 10).all()


def test_largest_rectangle_empty():
    assert largest_rectangle(np.array([5, 5]), np.array([4, 4])) == (0, 0, 0, 0)


@settings(max_examples=25, deadline=None)
@given(
    angle=st.floats(-0.2, 0.2),
    scale=st.floats(0.9, 1.1),
    dx=st.floats(-20, 20),
    dy=st.floats(-20, 20),
    tilt=st.floats(-1e-3, 1e-3),
)
def test_covered_rows_match_pointwise_test(angle, scale, dx, dy, tilt):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    m = np.array([[c, -s, dx], [s, c, dy], [tilt, 0.0, 1.0]])
    h, w = 40, 50
    lo, hi = covered_rows(m, (h, w), np.arange(h), w)
    yy, xx = np.mgrid[0:h, 0:w]
    src = np.linalg.inv(m) @ np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
    src = src[:2] / src[2]
    inside = (src >= -1e-6).all(axis=0) & (src[0] <= w - 1 + 1e-6) & (src[1] <= h - 1 + 1e-6)
    expected = inside.reshape(h, w)
    got = (xx >= lo[:, None]) & (xx <= hi[:, None])
    # Pixels within 1e-5 px of an edge may fall either way: compare the others.
    near = np.zeros(xx.size, bool)
    for coord, edge in ((src[0], 0.0), (src[0], w - 1.0), (src[1], 0.0), (src[1], h - 1.0)):
        near |= np.abs(coord - edge) < 1e-5
    clear = ~near.reshape(h, w)
    np.testing.assert_array_equal(got[clear], expected[clear])


@settings(max_examples=30, deadline=None)
@given(h=st.integers(16, 30000), w=st.integers(16, 30000))
def test_plan_levels_are_ordered(h, w):
    plan = Plan.for_shape((h, w))
    assert 0 <= plan.finest <= plan.select <= plan.phase <= plan.coarsest
    assert h * w / 4**plan.finest <= 6_000_000
    assert plan.finest <= 1 or h * w > 4 * 6_000_000


def test_link_order_walks_outward():
    assert link_order(5, 2) == [1, 0, 3, 4]
    assert link_order(3, 0) == [1, 2]
    assert link_order(1, 0) == []
