// Tensor module: see STYLE.md for what lives here. Filled in by the engine/diffusion work.
