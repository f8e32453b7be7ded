"""Media: image generation, Instagram transforms and storage."""
