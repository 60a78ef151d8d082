"""The benchmark suite: segmentdb side by side with chromadb and raw hnswlib (issue 4)."""
