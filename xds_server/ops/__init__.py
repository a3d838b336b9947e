"""What the people who run the server look at: health and Prometheus metrics."""
