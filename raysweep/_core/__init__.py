"""Infrastructure every package may import and that imports no other raysweep package: errors
(UserError), registry (name -> factory tables with metadata), params (typed parameter checks),
storage (local paths and URIs alike), device, tensors."""
