"""Reports of studies: figures, cell drawings and the HTML page."""
