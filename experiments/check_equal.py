"""Check: TurnFit with every lever off equals the package refinement without its distortion term; print the
mean ray distortion of the encoder's head and of the refined one."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from triplanenet.evaluation import ground_truth
from triplanenet.loading import load_inverter
from triplanenet.refinement import refine, RefineSettings
from turnfit import TurnSettings, turn_refine, render_with_weights, distortion

inv = load_inverter("bundled")
truth = ground_truth(0, inv.decoder.img_resolution)
x = inv.invert(truth.image[:1], truth.cameras[:1])
t = time.perf_counter(); a = refine(x, settings=RefineSettings(steps=3, distortion_weight=0.0)); print("pkg", time.perf_counter() - t)
t = time.perf_counter(); b, _ = turn_refine(x, TurnSettings(steps=3)); print("turn", time.perf_counter() - t)
print("max diff", float((a.planes - b.planes).abs().max()), float((a.ws - b.ws).abs().max()))
with torch.no_grad():
    out, w, d = render_with_weights(inv.decoder, x.ws, x.planes, x.camera, 64)
    ref = inv.decoder.synthesis_scenes(x.ws, x.planes, x.camera, 64, deterministic=True)
    print("render diff", float((out["image"] - ref["image"]).abs().max()))
    print("distortion encoder", float(distortion(w, d)), "refined", float(distortion(*render_with_weights(inv.decoder, a.ws, a.planes, a.camera, 64)[1:])))
