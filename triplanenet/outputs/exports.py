"""Mesh files (.ply, .glb, .obj) and interactive plotly figures of meshes and depth maps.

Every export keeps the mesh in world units and EG3D's axes (+y up, the face
looks toward +z), which is also glTF's convention (+y up, front toward +z), so a
``.glb`` opens upright and facing the viewer in browsers, Gradio and Blender's
glTF importer. Vertex colours are stored per vertex (RGBA uint8 in .ply and .glb;
``v x y z r g b`` floats in .obj, the de-facto extension Blender and MeshLab read).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .meshes import Mesh, vertex_normals

FORMATS = (".ply", ".glb", ".obj")


def to_trimesh(mesh: Mesh):
    """A ``trimesh.Trimesh`` with the mesh's vertices, faces, vertex colours and normals (no processing)."""
    import trimesh

    return trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, vertex_colors=mesh.colors,
                           vertex_normals=mesh.normals, process=False)


def save_mesh(mesh: Mesh, path: str | Path) -> Path:
    """Write ``mesh`` to ``path``; the suffix picks the format: .ply (binary), .glb or .obj."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unsupported mesh format {suffix!r}; use one of {FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tm = to_trimesh(mesh)
    if suffix == ".ply":
        tm.export(path, file_type="ply", encoding="binary")
    elif suffix == ".glb":
        tm.export(path, file_type="glb")
    else:
        tm.export(path, file_type="obj", include_color=True, include_normals=True, include_texture=False)
    return path


def load_mesh(path: str | Path) -> Mesh:
    """Read a mesh written by :func:`save_mesh` (vertex order kept; white if it has no colours)."""
    import trimesh

    tm = trimesh.load(Path(path), force="mesh", process=False)
    vertices = np.asarray(tm.vertices, np.float32)
    faces = np.asarray(tm.faces, np.int64)
    colors = getattr(tm.visual, "vertex_colors", None)
    colors = (np.asarray(colors)[:, :3].astype(np.uint8) if colors is not None and len(colors) == len(vertices)
              else np.full((len(vertices), 3), 255, np.uint8))
    return Mesh(vertices, faces, colors, vertex_normals(vertices, faces))


def decimate(mesh: Mesh, max_faces: int) -> Mesh:
    """At most ``max_faces`` faces by vertex clustering on a uniform grid.

    Vertices falling in one grid cell merge into their mean (position and colour);
    faces that collapse or repeat are dropped. The cell size is chosen from the
    face count (faces scale with the square of the cells per side) and shrunk until
    the budget holds. Returns ``mesh`` itself when it is already within budget.
    """
    if len(mesh.faces) <= max_faces:
        return mesh
    if max_faces <= 0:
        return Mesh.empty()
    low = mesh.vertices.min(axis=0)
    extent = float((mesh.vertices.max(axis=0) - low).max()) or 1.0
    edges = np.linalg.norm(mesh.vertices[mesh.faces[:, 1]] - mesh.vertices[mesh.faces[:, 0]], axis=1)
    cells = extent / max(float(edges.mean()), 1e-12) * np.sqrt(max_faces / len(mesh.faces))
    while True:
        result = _cluster(mesh, low, extent / max(cells, 1.0))
        if len(result.faces) <= max_faces or cells <= 1.0:
            return result if len(result.faces) <= max_faces else Mesh.empty()
        cells *= 0.95 * np.sqrt(max_faces / len(result.faces))


def _cluster(mesh: Mesh, low: np.ndarray, cell: float) -> Mesh:
    """Vertex clustering of ``mesh`` on a grid of ``cell``-sized cubes anchored at ``low``."""
    index = np.floor((mesh.vertices - low) / cell).astype(np.int64)
    size = index.max() + 1
    _, cluster = np.unique((index[:, 0] * size + index[:, 1]) * size + index[:, 2], return_inverse=True)
    count = np.bincount(cluster).astype(np.float64)[:, None]
    vertices = np.stack([np.bincount(cluster, mesh.vertices[:, a]) for a in range(3)], axis=1) / count
    colors = np.stack([np.bincount(cluster, mesh.colors[:, a]) for a in range(3)], axis=1) / count
    faces = cluster[mesh.faces]
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    ordered = np.sort(faces, axis=1)
    order = np.lexsort(ordered.T[::-1])
    repeated = np.zeros(len(faces), bool)
    repeated[order[1:]] = (ordered[order[1:]] == ordered[order[:-1]]).all(axis=1)
    faces = faces[~repeated]
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    vertices = vertices[used].astype(np.float32)
    return Mesh(vertices, faces, np.round(colors[used]).astype(np.uint8), vertex_normals(vertices, faces))


def mesh_figure(mesh: Mesh, max_faces: int = 100_000, title: str | None = None):
    """A plotly ``Figure`` with one ``Mesh3d`` of ``mesh`` decimated to ``max_faces`` faces.

    Vertex colours are kept; the view looks at the face (+z) with +y up, axes in world units.
    """
    import plotly.graph_objects as go

    shown = decimate(mesh, max_faces)
    colors = [f"rgb({r},{g},{b})" for r, g, b in shown.colors.tolist()]
    x, y, z = shown.vertices.T
    i, j, k = shown.faces.T
    trace = go.Mesh3d(x=x, y=y, z=z, i=i, j=j, k=k, vertexcolor=colors, flatshading=False,
                      lighting=dict(ambient=0.55, diffuse=0.6, specular=0.1, roughness=0.9),
                      lightposition=dict(x=0, y=100, z=200), hoverinfo="skip")
    figure = go.Figure(trace)
    figure.update_layout(
        title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=dict(aspectmode="data", xaxis_title="x", yaxis_title="y (up)", zaxis_title="z (face)",
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0, y=0, z=2.0))))
    return figure
