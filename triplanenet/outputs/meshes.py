"""Triangle meshes in world coordinates and their cleanup: normals, largest component, smoothing.

Conventions are :mod:`triplanenet.outputs.geometry`'s (EG3D's world: +y up, the face
looks toward +z; faces wound counter-clockwise seen from outside). Pure numpy
and scipy: nothing here needs the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    """A triangle mesh in world coordinates (+y up, face toward +z).

    ``vertices`` [V,3] float32, ``faces`` [F,3] int64 (counter-clockwise seen from
    outside), ``colors`` [V,3] uint8 RGB, ``normals`` [V,3] float32 unit, outward.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    normals: np.ndarray

    @classmethod
    def empty(cls) -> Mesh:
        return cls(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64),
                   np.zeros((0, 3), np.uint8), np.zeros((0, 3), np.float32))


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-D integer array (sort-based; numpy's unique is slower here)."""
    keys = np.sort(keys)
    keep = np.empty(len(keys), bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [V,3] float32 (outward for outward-wound faces)."""
    corners = vertices[faces].astype(np.float64)
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.stack([sum(np.bincount(faces[:, k], face_normals[:, axis], len(vertices)) for k in range(3))
                        for axis in range(3)], axis=1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-20)).astype(np.float32)


def adjacency(faces: np.ndarray, count: int):
    """Symmetric vertex adjacency of a triangle mesh as a scipy CSR matrix [V,V] of ones."""
    from scipy import sparse

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    matrix = sparse.csr_matrix((np.ones(len(edges), np.float32), (edges[:, 0], edges[:, 1])),
                               shape=(count, count))
    matrix.data[:] = 1.0
    return matrix


def largest_component(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the connected component with the most faces.

    Returns ``(vertices [V',3], faces [F',3], kept [V'])`` where ``kept`` are the
    kept vertices' indices in the input (to carry colours or other per-vertex data).
    """
    from scipy.sparse.csgraph import connected_components

    if len(faces) == 0:
        return vertices, faces, np.arange(len(vertices))
    _, labels = connected_components(adjacency(faces, len(vertices)), directed=False)
    biggest = np.argmax(np.bincount(labels[faces[:, 0]]))
    faces = faces[labels[faces[:, 0]] == biggest]
    kept = sorted_unique(faces.reshape(-1))
    remap = np.zeros(len(vertices), np.int64)
    remap[kept] = np.arange(len(kept))
    return vertices[kept], remap[faces], kept


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int = 10,
                  lam: float = 0.5, mu: float = -0.53) -> np.ndarray:
    """Taubin (lambda|mu) smoothing with the uniform Laplacian: smooths without shrinking.

    Each iteration moves every vertex by ``lam`` then ``mu`` times the offset to the mean
    of its neighbours. Returns new vertices [V,3] float32; faces are unchanged.
    """
    if iterations <= 0 or len(faces) == 0:
        return vertices
    neighbours = adjacency(faces, len(vertices))
    degree = np.maximum(np.asarray(neighbours.sum(axis=1)), 1.0)
    points = vertices.astype(np.float64)
    for _ in range(iterations):
        for weight in (lam, mu):
            points = points + weight * (neighbours @ points / degree - points)
    return points.astype(np.float32)
