"""Getting the data: HTTP with retries, zip member ranges, safe extraction, checksums,
the archive datasets (FMA, AAM) and every source kind's candidate tracks."""
