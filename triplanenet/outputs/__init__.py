"""Stage 4: an :class:`~triplanenet.inversion.Inversion` in; views, depth, a coloured mesh and files out.

* :mod:`.views`: renders at any camera (one batched path), the yaw sweep every front end shows, normals,
  the turntable's frames;
* :mod:`.depth`: depth maps as ``.npy`` and as pictures with their range;
* :mod:`.geometry` (grids and their conventions), :mod:`.surface` (marching cubes, the head's mesh and its
  fallback level), :mod:`.meshes` (cleanup), :mod:`.exports` (``.ply``/``.glb``/``.obj``, plotly);
* :mod:`.video`: EG3D's turntable orbit and video files; :mod:`.saving`: all of them as files.

The defaults every front end shares live here once: the sweep's range (:data:`~.views.SWEEP_YAW`), the
mesh's resolution and level (:data:`~.surface.MESH_RESOLUTION`, :data:`~.geometry.LEVEL`).
"""
from .geometry import LEVEL
from .surface import extract_mesh, head_mesh
from .views import SWEEP_YAW, View, input_view, render_views, sweep_views

__all__ = ["LEVEL", "SWEEP_YAW", "View", "extract_mesh", "head_mesh", "input_view", "render_views",
           "sweep_views"]
