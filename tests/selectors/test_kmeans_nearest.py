import numpy as np

from curate.budget import Budget
from curate.selectors import SelectionView, make_selector


def test_one_representative_per_blob(blobs):
    x, labels = blobs
    view = SelectionView(ids=np.arange(600).astype(str), embeddings=x)
    table = make_selector("kmeans-nearest").select(view, Budget(total=6), 0)
    picked = labels[table["id"].cast(int).to_numpy()]
    assert sorted(picked) == list(range(6))


def test_picks_are_the_nearest_points_to_centroids(blobs):
    x, labels = blobs
    view = SelectionView(ids=np.arange(600).astype(str), embeddings=x)
    table = make_selector("kmeans-nearest").select(view, Budget(total=6), 0)
    rows = table["id"].cast(int).to_numpy()
    for row, score in zip(rows, table["score"], strict=True):
        blob = labels == labels[row]
        mean = x[blob].mean(0)
        centroid = mean / np.linalg.norm(mean)
        # the pick is (within float error) the blob's point nearest its centroid
        assert score >= np.max(x[blob] @ centroid) - 1e-3
