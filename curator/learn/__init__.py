"""Models curator trains: the head on the embeddings, LP-FT of the CLIP tower, the small CNN on
pixels (label_quality.classifier: cnn)."""
