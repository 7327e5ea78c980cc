"""k-means (faiss, or torch on CUDA) and nearest-neighbour search."""

from curate.index.kmeans import (
    ClustersRef,
    cache_params,
    cluster_embeddings,
    fit_centroids,
    kmeans_clusterer,
    nearest,
)

__all__ = ["ClustersRef", "cache_params", "cluster_embeddings", "fit_centroids",
           "kmeans_clusterer", "nearest"]
