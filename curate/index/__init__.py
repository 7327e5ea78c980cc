"""faiss k-means and nearest-neighbour search."""

from curate.index.kmeans import (
    ClustersRef,
    cluster_embeddings,
    fit_centroids,
    kmeans_clusterer,
    nearest,
)

__all__ = ["ClustersRef", "cluster_embeddings", "fit_centroids", "kmeans_clusterer", "nearest"]
