package alpha

// TestOnly must not be extracted: test files are skipped.
func TestOnly() {}
