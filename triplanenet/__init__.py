"""TriPlaneNet: turn a face photo into a 3D head by inverting EG3D."""
