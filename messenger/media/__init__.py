"""Media sharing: streamed uploads, content sniffing, encryption at rest, storage backends, thumbnails."""
