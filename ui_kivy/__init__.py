"""See README.md: this package's role in meibo."""
